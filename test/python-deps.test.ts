// `serve --install-deps`: a Python app's [cerebrium.dependencies.pip] installed into a venv of its own
// under the data dir, with real python3 processes and pip (offline: the fixture's package is local).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALLED_MARKER, pipRequirement, prepareVenv } from '../src/apps/python-deps.ts';
import { findInterpreter } from '../src/apps/python-interpreter.ts';
import { parseAppConfig } from '../src/config/load-config.ts';
import { type ServeOptions, startServer } from '../src/serve.ts';
import { fixture, startTestServer } from './helpers/test-server.ts';

// The interpreter itself, not a pyenv shim (see test/python-apps.test.ts); it must have venv and pip.
const found = spawnSync('python3', ['-c', 'import sys, ensurepip, venv; print(sys.executable)'], { encoding: 'utf8' });
const python = found.status === 0 ? found.stdout.trim() : undefined;
const hasPython3 = python !== undefined && python !== '';
if (!hasPython3) console.warn('python3 with venv and ensurepip is not on PATH: the tests in test/python-deps.test.ts are skipped');

const APP = 'py-deps';

type LogLine = Record<string, unknown>;
const messages = (lines: LogLine[]) => lines.map((l) => String(l.msg));

/**
 * Starts a server whose apps must fail to load, and returns the load's error. (startTestServer would
 * reject too, but leave the server open, holding the data dir's lock.)
 */
async function loadFailure(appDirs: string[], options: Partial<ServeOptions>): Promise<Error> {
  const running = await startServer({
    appDirs,
    host: '127.0.0.1',
    port: 0,
    projectId: 'p-test',
    logLevel: 'silent',
    logDestination: { write: () => undefined },
    ...options,
  });
  try {
    await running.loaded;
  } catch (err) {
    return err as Error;
  } finally {
    await running.close();
  }
  throw new Error('the apps loaded');
}

describe('pip entries → requirements', () => {
  const dir = '/apps/a';
  it.each([
    ['==1.2.0', 'x==1.2.0', false],
    ['>=2', 'x>=2', false],
    ['~=1.4', 'x~=1.4', false],
    ['1.2.0', 'x==1.2.0', false],
    ['latest', 'x', false],
    ['', 'x', false],
    ['*', 'x', false],
    ['[extra]>=1', 'x[extra]>=1', false],
    ['git+https://example.com/x.git', 'x @ git+https://example.com/x.git', false],
    ['./packages/x', '/apps/a/packages/x', true],
    ['../shared/x', '/apps/shared/x', true],
    ['/opt/x', '/opt/x', true],
    ['file:///opt/x', '/opt/x', true],
  ])('%j → %s', (value, spec, local) => {
    expect(pipRequirement('x', value, dir)).toEqual({ name: 'x', spec, local });
  });

  it('refuses a key that is no package name', () => {
    expect(() => pipRequirement('-r', 'requirements.txt', dir)).toThrow(/"-r" is not a package name/);
  });
});

describe.skipIf(!hasPython3)('serve --install-deps', () => {
  let dataDir: string;
  let scratch: string;

  const start = () => startTestServer([fixture('python-deps-app')], { dataDir, installDeps: true, python, logLevel: 'info' });
  const venvs = () => (existsSync(join(dataDir, 'venvs')) ? readdirSync(join(dataDir, 'venvs')) : []);

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cerebrium-local-deps-'));
    scratch = mkdtempSync(join(tmpdir(), 'cerebrium-local-deps-apps-'));
  });

  afterAll(() => {
    for (const dir of [dataDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without --install-deps, the app fails to load and the message says to use --install-deps', async () => {
    const error = await loadFailure([fixture('python-deps-app')], { dataDir, python });
    expect(error.message).toMatch(/ModuleNotFoundError: No module named 'greeting_pkg'.*--install-deps/);
    expect(venvs()).toEqual([]);
  });

  let venvDir: string;
  let installedAt: number;

  it('installs the local package into a venv under <data-dir>/venvs, and the app runs on it', async () => {
    const server = await start();
    try {
      await firstStart(server);
    } finally {
      await server.close();
    }
  });

  async function firstStart(server: Awaited<ReturnType<typeof start>>) {
    const res = await server.post(`/v4/p-test/${APP}/greet`, { name: 'deps' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { greeting: string; prefix: string } };
    expect(body.result.greeting).toBe('hello deps, from greeting_pkg');

    const [name, ...others] = venvs();
    expect(others).toEqual([]);
    expect(name).toMatch(/^py-deps-[0-9a-f]{12}$/);
    venvDir = join(dataDir, 'venvs', name);
    expect(body.result.prefix).toBe(venvDir);
    expect(existsSync(join(venvDir, INSTALLED_MARKER))).toBe(true);
    installedAt = statSync(join(venvDir, INSTALLED_MARKER)).mtimeMs;

    const logs = server.logs();
    // pip's own output is in the log, at info, tagged with the app.
    const pipLines = logs.filter((l) => l.stream === 'pip' && l.app === APP);
    expect(pipLines.length).toBeGreaterThan(0);
    expect(pipLines.every((l) => l.level === 30)).toBe(true);
    expect(messages(pipLines).some((m) => m.includes('Successfully installed greeting_pkg'))).toBe(true);
    // apt packages are named in a warning.
    const apt = logs.find((l) => l.level === 40 && String(l.msg).startsWith('[cerebrium.dependencies.apt]'));
    expect(apt?.msg).toContain('ffmpeg, libgl1: not installed locally');
    expect(apt?.app).toBe(APP);
  }

  it('reuses the venv on the next start while the table and the interpreter are unchanged', async () => {
    const server = await start();
    try {
      expect(venvs()).toEqual([venvDir.split('/').pop()]);
      expect(statSync(join(venvDir, INSTALLED_MARKER)).mtimeMs).toBe(installedAt);
      const logs = server.logs();
      expect(messages(logs)).toContain('reusing the virtual environment with [cerebrium.dependencies.pip] installed');
      expect(logs.some((l) => l.stream === 'pip' || l.stream === 'venv')).toBe(false);
      const res = await server.post(`/v4/p-test/${APP}/greet`, {});
      expect(((await res.json()) as { result: { greeting: string } }).result.greeting).toBe('hello world, from greeting_pkg');
    } finally {
      await server.close();
    }
  });

  it('a failed install stops the load, names the package with pip’s last lines, and leaves no marker', async () => {
    const app = join(scratch, 'broken');
    cpSync(fixture('python-deps-app'), app, { recursive: true });
    writeFileSync(
      join(app, 'cerebrium.toml'),
      '[cerebrium.deployment]\nname = "py-broken"\n\n[cerebrium.dependencies.pip]\nmissing_pkg = "./packages/missing_pkg"\n',
    );
    const error = await loadFailure([app], { dataDir, installDeps: true, python });
    expect(error.message).toMatch(/installing \[cerebrium\.dependencies\.pip\] failed \(pip exited with code 1\) for missing_pkg \(/);
    expect(error.message).toMatch(/its last lines:\n[\s\S]*missing_pkg/);
    const broken = venvs().find((v) => v.startsWith('py-broken-'));
    expect(broken).toBeDefined();
    expect(existsSync(join(dataDir, 'venvs', broken!, INSTALLED_MARKER))).toBe(false);
  });

  it('makes no venv for an app without a pip table, and prunes the app’s stale venvs', async () => {
    const log = pino({ level: 'silent' });
    const stale = join(dataDir, 'venvs', 'py-deps-000000000000');
    mkdirSync(stale);
    const { config } = parseAppConfig('[cerebrium.deployment]\nname = "py-deps"\n', fixture('python-deps-app'), 'cerebrium.toml');
    expect(
      await prepareVenv(config, { interpreter: await findInterpreter(python!, fixture('python-deps-app')), dataDir, log, prune: true }),
    ).toBeUndefined();
    expect(existsSync(stale)).toBe(true);

    const withTable = parseAppConfig(
      '[cerebrium.deployment]\nname = "py-deps"\n[cerebrium.dependencies.pip]\ngreeting_pkg = "./packages/greeting_pkg"\n',
      fixture('python-deps-app'),
      'cerebrium.toml',
    ).config;
    const venv = await prepareVenv(withTable, {
      interpreter: await findInterpreter(python!, fixture('python-deps-app')),
      dataDir,
      log,
      prune: true,
    });
    expect(venv).toMatchObject({ dir: venvDir, reused: true });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(venvDir)).toBe(true);
  });
});
