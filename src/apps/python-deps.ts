// `serve --install-deps`: a Python app's [cerebrium.dependencies.pip] installed into a virtual
// environment of its own, <data-dir>/venvs/<app>-<hash>. The hash covers what would be installed and
// the interpreter (its path and version), so the environment is reused while neither changes; a
// marker file written after a successful install tells a finished environment from a broken one.
// apt and conda packages cannot be installed here: they are named in a warning.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.ts';
import type { Interpreter } from './python-interpreter.ts';

/** Written into a venv once its packages are installed; a venv without it is made again. */
export const INSTALLED_MARKER = '.cerebrium-local-installed.json';
/** How many of pip's last lines a failed install shows. */
const TAIL_LINES = 20;

export interface PythonDepsOptions {
  /** The interpreter the venv is made from (`--python`, as findInterpreter resolved it). */
  interpreter: Interpreter;
  /** The venvs live in `<dataDir>/venvs`. */
  dataDir: string;
  /** The server's logger; lines are tagged with the app here. */
  log: Logger;
  /** Remove this app's other venvs (older tables or interpreters) once its own is ready. */
  prune?: boolean;
}

export interface PipRequirement {
  /** The key in [cerebrium.dependencies.pip]. */
  name: string;
  /** What pip is given: `name==1.2.0`, `name`, or the absolute path of a local package. */
  spec: string;
  /** A folder or file on this machine (a path or a file: URL). */
  local: boolean;
}

export interface PreparedVenv {
  /** The venv's interpreter: the app's replicas and its inspection run on it. */
  python: string;
  dir: string;
  reused: boolean;
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `[cerebrium.dependencies.<kind>]` of the app, as name → version string. */
export function dependencyTable(config: AppConfig, kind: 'pip' | 'apt' | 'conda' | 'paths'): Record<string, string> {
  const cerebrium = config.toml.cerebrium;
  const dependencies = isTable(cerebrium) ? cerebrium.dependencies : undefined;
  const table = isTable(dependencies) ? dependencies[kind] : undefined;
  if (!isTable(table)) return {};
  return Object.fromEntries(Object.entries(table).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * One pip entry → what pip installs. `""`, `"latest"` and `"*"` → the name; `"==1.2.0"`, `">=2"` →
 * name and spec; a bare version `"1.2.0"` → `name==1.2.0`; a path (`./x`, `../x`, `/x`, `~/x`) or a
 * `file:` URL → that path, relative ones taken from the app folder; another URL → `name @ url`.
 */
export function pipRequirement(name: string, value: string, appDir: string): PipRequirement {
  // A key that is no package name (one starting with "-" would be read by pip as an option) is refused.
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name)) {
    throw new Error(`[cerebrium.dependencies.pip]: "${name}" is not a package name (letters, digits, ".", "_" and "-")`);
  }
  const v = value.trim();
  if (v === '' || v === '*' || v.toLowerCase() === 'latest') return { name, spec: name, local: false };
  if (v.startsWith('file:')) {
    let path: string;
    try {
      path = fileURLToPath(v);
    } catch {
      // file:relative/path is no URL a standard reads, but its meaning is plain.
      path = v.slice('file:'.length);
    }
    return { name, spec: resolve(appDir, path), local: true };
  }
  if (v === '~' || v.startsWith('~/')) return { name, spec: join(homedir(), v.slice(1)), local: true };
  if (v === '.' || v === '..' || v.startsWith('./') || v.startsWith('../') || isAbsolute(v)) {
    return { name, spec: resolve(appDir, v), local: true };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return { name, spec: `${name} @ ${v}`, local: false };
  if (/^\d/.test(v)) return { name, spec: `${name}==${v}`, local: false };
  return { name, spec: `${name}${v}`, local: false };
}

/** The pip table's requirements, in a stable order. */
export function pipRequirements(config: AppConfig): PipRequirement[] {
  return Object.entries(dependencyTable(config, 'pip'))
    .map(([name, value]) => pipRequirement(name, value, config.dir))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The warnings for dependency tables that are not installed here (apt, conda, requirement files). */
export function notInstalledWarnings(config: AppConfig): string[] {
  const warnings: string[] = [];
  for (const kind of ['apt', 'conda'] as const) {
    const names = Object.keys(dependencyTable(config, kind));
    if (names.length > 0) {
      warnings.push(`[cerebrium.dependencies.${kind}] ${names.join(', ')}: not installed locally (install them on this machine yourself)`);
    }
  }
  const paths = dependencyTable(config, 'paths');
  const files = Object.entries(paths).map(([kind, file]) => `${kind} = "${file}"`);
  if (files.length > 0) warnings.push(`[cerebrium.dependencies.paths] ${files.join(', ')}: not installed locally`);
  return warnings;
}

/** The venv folder's name: the app's, and a hash of what goes into it and what it is made from. */
export function venvName(appName: string, requirements: PipRequirement[], interpreter: Interpreter): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ pip: requirements.map((r) => r.spec), python: interpreter.executable, version: interpreter.build }))
    .digest('hex')
    .slice(0, 12);
  return `${appName}-${hash}`;
}

const venvPython = (dir: string) => (process.platform === 'win32' ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python'));

/** `uv` on PATH, when there is one. */
async function findUv(): Promise<string | undefined> {
  const names = process.platform === 'win32' ? ['uv.exe'] : ['uv'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Makes (or reuses) the app's venv with its pip table installed, and returns its interpreter.
 * Returns undefined when the app has no pip table: it runs on the interpreter it was given.
 */
export async function prepareVenv(config: AppConfig, options: PythonDepsOptions): Promise<PreparedVenv | undefined> {
  const log = options.log.child({ app: config.name });
  for (const warning of notInstalledWarnings(config)) log.warn(warning);
  const requirements = pipRequirements(config);
  if (requirements.length === 0) return undefined;

  const { interpreter } = options;
  const venvsDir = resolve(options.dataDir, 'venvs');
  const name = venvName(config.name, requirements, interpreter);
  const dir = join(venvsDir, name);
  const python = venvPython(dir);
  const marker = join(dir, INSTALLED_MARKER);

  let reused = false;
  if (existsSync(marker) && existsSync(python)) {
    reused = true;
    log.info({ venv: dir }, 'reusing the virtual environment with [cerebrium.dependencies.pip] installed');
  } else {
    // A folder without the marker is an install that failed or was cut short: start it again.
    await rm(dir, { recursive: true, force: true });
    await mkdir(venvsDir, { recursive: true });
    log.info({ venv: dir, packages: requirements.map((r) => r.spec) }, 'creating a virtual environment for [cerebrium.dependencies.pip]');
    const created = await runLogged(interpreter.executable, ['-m', 'venv', dir], { cwd: config.dir, log, tool: 'venv' });
    if (created.code !== 0) {
      throw new Error(
        `App "${config.name}": creating its virtual environment (${interpreter.executable} -m venv ${dir}) failed (it ${created.how})` +
          tail(created.lines),
      );
    }
    await install(config, requirements, python, log);
    await writeFile(
      marker,
      `${JSON.stringify({ pip: requirements.map((r) => r.spec), python: interpreter.executable, version: interpreter.build, installedAt: new Date().toISOString() }, null, 2)}\n`,
    );
    log.info({ venv: dir }, 'installed [cerebrium.dependencies.pip]');
  }
  if (options.prune) await pruneOtherVenvs(venvsDir, config.name, name, log);
  return { python, dir, reused };
}

async function install(config: AppConfig, requirements: PipRequirement[], python: string, log: Logger): Promise<void> {
  const specs = requirements.map((r) => r.spec);
  // Local packages only: no index is asked (works offline); otherwise pip's own configuration decides.
  const noIndex = requirements.every((r) => r.local) ? ['--no-index'] : [];
  const uv = await findUv();
  const [command, args, tool] = uv
    ? [uv, ['pip', 'install', '--python', python, ...noIndex, ...specs], 'uv']
    : [python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...noIndex, ...specs], 'pip'];
  const result = await runLogged(command, args, { cwd: config.dir, log, tool });
  if (result.code === 0) return;
  // Name the packages pip's error lines mention; else those its other lines mention; else all of them.
  const named = mentionedIn(
    requirements,
    result.lines.filter((l) => /^\s*(error|×)/i.test(l)),
  );
  const mentioned = named.length > 0 ? named : mentionedIn(requirements, result.lines.slice(-TAIL_LINES * 2));
  const culprits = (mentioned.length > 0 ? mentioned : requirements).map((r) => (r.spec === r.name ? r.name : `${r.name} (${r.spec})`));
  throw new Error(
    `App "${config.name}": installing [cerebrium.dependencies.pip] failed (${tool} ${result.how}) for ${culprits.join(', ')}` +
      tail(result.lines),
  );
}

/** The requirements whose name (as a whole word; -, _ and . alike, as in PEP 503) or local path the lines mention. */
function mentionedIn(requirements: PipRequirement[], lines: string[]): PipRequirement[] {
  const text = lines.join('\n').toLowerCase();
  const mentions = (name: string) => new RegExp(`(^|[^a-z0-9])${name.toLowerCase().replace(/[-_.]+/g, '[-_.]')}($|[^a-z0-9])`).test(text);
  return requirements.filter((r) => mentions(r.name) || (r.local && text.includes(r.spec.toLowerCase())));
}

function tail(lines: string[]): string {
  const last = lines.filter((l) => l.trim() !== '').slice(-TAIL_LINES);
  return last.length > 0 ? `; its last lines:\n${last.join('\n')}` : '';
}

interface Finished {
  code: number | null;
  /** "exited with code 1", "was killed by SIGKILL", or why it could not start. */
  how: string;
  lines: string[];
}

/** Runs a command, each line of its output an info line of the log, and keeps the lines for an error. */
function runLogged(command: string, args: string[], options: { cwd: string; log: Logger; tool: string }): Promise<Finished> {
  const lines: string[] = [];
  return new Promise((resolvePromise) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_NO_INPUT: '1' } });
    } catch (err) {
      resolvePromise({ code: null, how: `could not be started: ${(err as Error).message}`, lines });
      return;
    }
    let pending = 0;
    let status: Omit<Finished, 'lines'> | undefined;
    const done = () => {
      if (status && pending === 0) resolvePromise({ ...status, lines });
    };
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      pending++;
      const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      reader.on('line', (line) => {
        lines.push(line);
        options.log.info({ stream: options.tool }, line);
      });
      reader.on('close', () => {
        pending--;
        done();
      });
    }
    child.once('error', (err) => {
      status = { code: null, how: `could not be started: ${err.message}` };
      pending = 0;
      done();
    });
    child.once('close', (code, signal) => {
      status ??= { code, how: signal ? `was killed by ${signal}` : `exited with code ${code}` };
      done();
    });
  });
}

/** Removes `<app>-<hash>` folders of this app other than `keep` (a changed table or interpreter left them). */
async function pruneOtherVenvs(venvsDir: string, appName: string, keep: string, log: Logger): Promise<void> {
  const pattern = new RegExp(`^${appName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-[0-9a-f]{12}$`);
  let entries: string[];
  try {
    entries = await readdir(venvsDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry === keep || !pattern.test(entry)) continue;
    const stale = join(venvsDir, entry);
    try {
      await rm(stale, { recursive: true, force: true });
      log.info({ venv: stale }, 'removed a virtual environment this app no longer uses');
    } catch (err) {
      log.warn({ venv: stale, err }, 'could not remove a virtual environment this app no longer uses');
    }
  }
}
