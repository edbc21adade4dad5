// The interpreter a Python app runs on: `python3` (or --python) as found from the app's folder,
// resolved once to the executable itself. Where python3 is a shim (pyenv), starting each replica
// through it costs several times the interpreter's own start; resolving it in the app's folder
// keeps the version a `.python-version` file there picks.
//
// `python_version` in [cerebrium.deployment] names the Python the app is deployed with; when it
// differs from the interpreter's in major.minor, start-up says so and the app runs anyway.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AppConfig } from '../config/load-config.ts';

const run = promisify(execFile);

export interface Interpreter {
  /** sys.executable: the interpreter itself, not a shim in front of it. */
  executable: string;
  /** major.minor, e.g. "3.11". */
  version: string;
  /** sys.version in full (build included): part of what a virtual environment is made from. */
  build: string;
}

export async function findInterpreter(python: string, cwd: string): Promise<Interpreter> {
  try {
    const script = 'import sys; print(sys.executable); print("%d.%d" % sys.version_info[:2]); print(sys.version)';
    const { stdout } = await run(python, ['-c', script], { cwd });
    const [executable, version, ...build] = stdout.trim().split('\n');
    return { executable: executable || python, version, build: build.join(' ').trim() };
  } catch (err) {
    throw new Error(`${python} could not be run (${(err as Error).message}); give an interpreter with --python PATH`);
  }
}

/** A warning naming both versions when they differ; undefined when they match or none is asked for. */
export function pythonVersionWarning(config: AppConfig, python: string, found: Interpreter): string | undefined {
  const deployment = (config.toml.cerebrium as { deployment?: { python_version?: unknown } } | undefined)?.deployment;
  const wanted = deployment?.python_version;
  if (typeof wanted !== 'string' || wanted === '') return undefined;
  const majorMinor = wanted.split('.').slice(0, 2).join('.');
  if (majorMinor === found.version) return undefined;
  return `${config.file}: python_version is "${wanted}", but ${python} is Python ${found.version}; the app runs on ${found.version} here`;
}
