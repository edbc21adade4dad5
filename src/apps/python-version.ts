// `python_version` in [cerebrium.deployment] names the Python the app is deployed with. Here the
// app runs on the interpreter it is given; when the two differ in major.minor, start-up says so.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AppConfig } from '../config/load-config.ts';

const run = promisify(execFile);

/** A warning naming both versions when they differ; undefined when they match or none is asked for. */
export async function pythonVersionWarning(config: AppConfig, python: string): Promise<string | undefined> {
  const deployment = (config.toml.cerebrium as { deployment?: { python_version?: unknown } } | undefined)?.deployment;
  const wanted = deployment?.python_version;
  if (typeof wanted !== 'string' || wanted === '') return undefined;
  let found: string;
  try {
    found = (await run(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'])).stdout.trim();
  } catch (err) {
    throw new Error(
      `App "${config.name}" is a Python app, but ${python} could not be run (${(err as Error).message}); give one with --python PATH`,
    );
  }
  const majorMinor = wanted.split('.').slice(0, 2).join('.');
  if (majorMinor === found) return undefined;
  return `${config.file}: python_version is "${wanted}", but ${python} is Python ${found}; the app runs on ${found} here`;
}
