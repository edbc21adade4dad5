// Which modules hold an app's functions: main.ts (or main.js / main.mjs) in the app folder, or,
// when there is none, every module in its functions/ folder.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const MAIN_FILES = ['main.ts', 'main.mts', 'main.js', 'main.mjs'];
const MODULE_FILE = /\.(ts|mts|js|mjs)$/;
const NOT_A_MODULE = /\.(d|test|spec)\.(ts|mts)$/;

export class AppLayoutError extends Error {
  override name = 'AppLayoutError';
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function findAppModules(appDir: string): Promise<string[]> {
  for (const name of MAIN_FILES) {
    const path = join(appDir, name);
    if (await isFile(path)) return [path];
  }
  const functionsDir = join(appDir, 'functions');
  let entries: string[];
  try {
    entries = await readdir(functionsDir);
  } catch {
    throw new AppLayoutError(
      `${appDir}: no functions found: add main.ts (or main.js) to the app folder, or modules to its functions/ folder`,
    );
  }
  const modules = entries
    .filter((name) => MODULE_FILE.test(name) && !NOT_A_MODULE.test(name))
    .sort()
    .map((name) => join(functionsDir, name));
  if (modules.length === 0) throw new AppLayoutError(`${functionsDir}: holds no .ts, .js or .mjs modules`);
  return modules;
}
