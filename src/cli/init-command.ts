// `cerebrium-local init [DIR] [--name NAME] [--force]`: writes a new app that `serve DIR` runs at
// once: cerebrium.toml, package.json, main.ts (a sync, a streaming and an OpenAI-style chat
// function) and a README saying how to call each. The files are the ones in init-template/, which
// the project type-checks like its own code. Returns the exit code.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { TSchema } from '@sinclair/typebox';
import { CEREBRIUM_TOML, isTableSpec, type TableSpec } from '../config/toml-schema.ts';

export const INIT_USAGE = `Usage: cerebrium-local init [DIR] [--name NAME] [--force]

Writes a new app into DIR (default "."; created if missing): cerebrium.toml, package.json,
main.ts with a plain, a streaming and an OpenAI-style chat function, .gitignore and a README.
Then \`cerebrium-local serve DIR\` serves it.

Options:
  --name NAME   the app's name in URLs (default: DIR's folder name, made to fit the pattern
                letters, digits, "-" and "_", starting with a letter or digit)
  --force       overwrite files that are already there (otherwise nothing is written)
  -h, --help    show this text
`;

/** Where the template files live: next to this module, shipped with the package. */
const TEMPLATE_DIR = new URL('./init-template/', import.meta.url);
/** Replaced by the app's name in the template files. */
const NAME_PLACEHOLDER = /__APP_NAME__/g;
const FALLBACK_NAME = 'my-app';

/** The pattern cerebrium.toml's `[cerebrium.deployment].name` must match, read from the schema itself. */
function deploymentNamePattern(): RegExp {
  const cerebrium = CEREBRIUM_TOML.cerebrium;
  const deployment = cerebrium !== undefined && isTableSpec(cerebrium) ? cerebrium.deployment : undefined;
  const name: TSchema | TableSpec | undefined = deployment !== undefined && isTableSpec(deployment) ? deployment.name : undefined;
  const pattern: unknown = name !== undefined && !isTableSpec(name) ? name.pattern : undefined;
  if (typeof pattern !== 'string') throw new Error('cerebrium.toml schema has no pattern for [cerebrium.deployment].name');
  return new RegExp(pattern);
}

export const APP_NAME_PATTERN = deploymentNamePattern();

/**
 * An app name made from a folder name: lower case, accents dropped, every run of other characters
 * turned into one "-", with no leading or trailing "-" / "_" ("My Cool App!" → "my-cool-app").
 * Falls back to "my-app" when nothing is left.
 */
export function appNameFromFolder(folder: string): string {
  const name = folder
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  return APP_NAME_PATTERN.test(name) ? name : FALLBACK_NAME;
}

export class InitError extends Error {
  override name = 'InitError';
}

export interface InitOptions {
  /** The app's folder; created when missing. */
  dir: string;
  /** The app's name; from the folder's name when absent. Must match APP_NAME_PATTERN. */
  name?: string;
  /** Overwrite files that exist. Without it, any existing file stops init before anything is written. */
  force?: boolean;
}

export interface InitResult {
  dir: string;
  name: string;
  /** Absolute paths of the files written, in the order written. */
  files: string[];
}

/** The files of a new app, by name relative to its folder. */
async function renderTemplate(name: string): Promise<Array<[file: string, text: string]>> {
  const fromTemplate = async (file: string) => (await readFile(new URL(file, TEMPLATE_DIR), 'utf8')).replace(NAME_PLACEHOLDER, name);
  const packageJson = {
    name,
    private: true,
    version: '0.1.0',
    description: `The ${name} app, served by cerebrium-local`,
    // Makes main.ts an ES module, as the `import … from 'cerebrium-local'` in it needs.
    type: 'module',
    scripts: { serve: 'cerebrium-local serve .' },
  };
  return [
    ['cerebrium.toml', await fromTemplate('cerebrium.toml')],
    ['package.json', `${JSON.stringify(packageJson, null, 2)}\n`],
    ['main.ts', await fromTemplate('main.ts')],
    ['README.md', await fromTemplate('README.md')],
    ['.gitignore', 'node_modules/\n.cerebrium-local/\n.env\n'],
  ];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Writes a new app into options.dir. Throws InitError (having written nothing) when a file exists and force is off. */
export async function initApp(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir);
  const name = options.name ?? appNameFromFolder(basename(dir));
  if (!APP_NAME_PATTERN.test(name)) {
    throw new InitError(`--name must be letters, digits, "-" and "_", starting with a letter or digit; got "${name}"`);
  }
  if ((await exists(dir)) && !(await stat(dir)).isDirectory()) throw new InitError(`${dir} is a file, not a folder`);

  const files = (await renderTemplate(name)).map(([file, text]) => ({ path: join(dir, file), text }));
  if (!options.force) {
    const taken: string[] = [];
    for (const file of files) if (await exists(file.path)) taken.push(relative(process.cwd(), file.path) || file.path);
    if (taken.length > 0) {
      throw new InitError(`not overwriting ${taken.join(', ')} (use --force to replace ${taken.length === 1 ? 'it' : 'them'})`);
    }
  }

  await mkdir(dir, { recursive: true });
  for (const file of files) {
    try {
      // 'wx' also refuses a file that appeared since the check above.
      await writeFile(file.path, file.text, { flag: options.force ? 'w' : 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InitError(`not overwriting ${file.path} (use --force)`);
      throw err;
    }
  }
  return { dir, name, files: files.map((file) => file.path) };
}

/** A path as one word for a POSIX shell, quoted only when it has to be. */
function shellWord(path: string): string {
  return /^[\w./+:@%-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

export async function initCommand(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(INIT_USAGE);
      return 0;
    }
    if (positionals.length > 1) throw new InitError(`init takes one folder, got ${positionals.length}: ${positionals.join(' ')}`);
    const result = await initApp({ dir: positionals[0] ?? '.', name: values.name, force: values.force });
    const shown = shellWord(relative(process.cwd(), result.dir) || '.');
    const lines = [
      `Wrote app "${result.name}" in ${shown}:`,
      ...result.files.map((file) => `  ${relative(result.dir, file)}`),
      '',
      'Serve it with:',
      `  cerebrium-local serve ${shown}`,
      'then call it (README.md has the streaming and OpenAI SDK calls):',
      `  curl -s http://127.0.0.1:7900/v4/p-local/${result.name}/predict -H 'Content-Type: application/json' -d '{"text": "hello"}'`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`cerebrium-local init: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
