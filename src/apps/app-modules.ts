// Which modules hold an app's functions: main.ts (or main.js / main.mjs) in the app folder, or,
// when there is none, every module in its functions/ folder. An app with main.py and none of
// those is a Python app.
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

/** What an app is made of: Node modules run in worker threads, or a main.py run in Python processes. */
export type AppEntry = { kind: 'node'; modules: string[] } | { kind: 'python'; main: string };

export async function findAppEntry(appDir: string): Promise<AppEntry> {
  const hasNodeMain = (await Promise.all(MAIN_FILES.map((name) => isFile(join(appDir, name))))).some(Boolean);
  const pythonMain = join(appDir, 'main.py');
  if (!hasNodeMain && (await isFile(pythonMain))) return { kind: 'python', main: pythonMain };
  return { kind: 'node', modules: await findAppModules(appDir) };
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
      `${appDir}: no functions found: add main.ts (or main.js, or main.py for a Python app) to the app folder, or modules to its functions/ folder`,
    );
  }
  const modules = entries
    .filter((name) => MODULE_FILE.test(name) && !NOT_A_MODULE.test(name))
    .sort()
    .map((name) => join(functionsDir, name));
  if (modules.length === 0) throw new AppLayoutError(`${functionsDir}: holds no .ts, .js or .mjs modules`);
  return modules;
}
