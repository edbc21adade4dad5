// Imports an app's modules and collects its exports. Runs inside a replica only: user code is
// never imported on the server thread.

import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { functionSpecOf } from '../function-spec.ts';
import type { ExportInfo, FunctionKind } from '../replica-protocol.ts';

export interface LoadedExport {
  info: ExportInfo;
  value: unknown;
}

export function functionKind(value: unknown): FunctionKind | 'not-a-function' {
  if (typeof value !== 'function') return 'not-a-function';
  const tag = Object.prototype.toString.call(value);
  if (tag === '[object AsyncGeneratorFunction]') return 'async-generator';
  if (tag === '[object GeneratorFunction]') return 'generator';
  return 'function';
}

/** Thrown for an app whose modules cannot be turned into one set of function names. */
export class AppModuleError extends Error {
  override name = 'AppModuleError';
}

async function importModule(file: string, shownFile: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    // A .ts file in a folder with no package.json is CommonJS to Node, and ES imports then fail
    // with errors about require(): say what to change.
    if (err instanceof Error && /require\(\)|require is not defined|Cannot use import statement/.test(err.message) && /\.ts$/.test(file)) {
      err.message +=
        `\n(${shownFile} was loaded as CommonJS: add a package.json with "type": "module" to the app folder, ` +
        'or name the file with .mts)';
    }
    throw err;
  }
}

export async function loadFunctions(appDir: string, modules: string[]): Promise<Map<string, LoadedExport>> {
  const found = new Map<string, LoadedExport>();
  for (const file of modules) {
    const shownFile = relative(appDir, file) || file;
    const mod = await importModule(file, shownFile);
    for (const [name, value] of Object.entries(mod)) {
      if (name === 'default') continue;
      const earlier = found.get(name);
      if (earlier) {
        throw new AppModuleError(
          `Two modules export a function named "${name}": ${earlier.info.file} and ${shownFile}. ` +
            'Function names must be unique within an app.',
        );
      }
      const spec = functionSpecOf(value);
      const info: ExportInfo = { name, file: shownFile, kind: functionKind(value) };
      // A JSON round trip drops TypeBox's symbol keys, leaving plain JSON Schema for the server.
      if (spec?.params) info.paramsSchema = JSON.parse(JSON.stringify(spec.params)) as Record<string, unknown>;
      if (spec?.description) info.description = spec.description;
      found.set(name, { info, value });
    }
  }
  return found;
}
