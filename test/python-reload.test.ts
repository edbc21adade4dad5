// `serve --watch` for a Python app (main.py, in a temp copy): an edit reaches the next call without a
// restart, a run in flight finishes on the old code, an edit to another .py module counts too, and a
// main.py that no longer imports keeps the old code serving.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

// The interpreter behind `python3`, found once (a pyenv shim costs much more per process start).
const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
const python = found.status === 0 && found.stdout.trim() !== '' ? found.stdout.trim() : undefined;
if (python === undefined) console.warn('python3 is not on PATH: the tests in test/python-reload.test.ts are skipped');

const mainPy = (version: string) => `
import asyncio

import helper


def version():
    return "${version}"


async def slow(seconds: float = 1.5):
    await asyncio.sleep(seconds)
    return "slow ${version}"


def helped():
    return helper.word()
`;

const helperPy = (word: string) => `
def word():
    return "${word}"
`;

let dir: string;
let server: TestServer;

async function result(fn: string, body: unknown = {}): Promise<unknown> {
  const res = await server.post(`/v4/p-test/py-reloading/${fn}`, body);
  return ((await res.json()) as { result?: unknown }).result;
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(python === undefined)('hot reload of a Python app', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cl-py-reload-'));
    await writeFile(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "py-reloading"\n');
    await writeFile(join(dir, 'helper.py'), helperPy('one'));
    await writeFile(join(dir, 'main.py'), mainPy('v1'));
    server = await startTestServer([dir], { watch: true, logLevel: 'info', python });
  });

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an edit to main.py changes the next answer without a restart, and a run in flight finishes on the old code', async () => {
    expect(await result('version')).toBe('v1');
    const inFlight = result('slow', { seconds: 2 });
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(join(dir, 'main.py'), mainPy('v2'));
    await until(async () => (await result('version')) === 'v2');
    expect(await inFlight).toBe('slow v1');
    expect(await result('slow', { seconds: 0.01 })).toBe('slow v2');
  });

  it('an edit to another .py module of the app reloads it too', async () => {
    expect(await result('helped')).toBe('one');
    await writeFile(join(dir, 'helper.py'), helperPy('two'));
    await until(async () => (await result('helped')) === 'two');
  });

  it('a syntax error in main.py keeps the old code serving and logs why; fixing it reloads', async () => {
    const failedBefore = server.logs().filter((line) => line.msg === 'reload failed; the app keeps serving its previous code').length;
    await writeFile(join(dir, 'main.py'), 'def version(:\n    return "broken"\n');
    await until(
      () => server.logs().filter((line) => line.msg === 'reload failed; the app keeps serving its previous code').length > failedBefore,
    );
    const failure = server.logs().findLast((line) => line.msg === 'reload failed; the app keeps serving its previous code');
    expect(JSON.stringify(failure)).toContain('SyntaxError');
    expect(await result('version')).toBe('v2');
    expect(await result('helped')).toBe('two');
    await writeFile(join(dir, 'main.py'), mainPy('v3'));
    await until(async () => (await result('version')) === 'v3');
  });
});
