// How apps are found and loaded: main.ts or functions/, duplicate names, readiness, the CLI.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../src/serve.ts';
import { fixture, startTestServer } from './helpers/test-server.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repoRoot, 'bin/cerebrium-local.mjs');

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A server whose function list is still loading (or fails to), for tests that watch that happen. */
const startQuietly = (appDir: string) =>
  startServer({
    appDirs: [appDir],
    host: '127.0.0.1',
    port: 0,
    projectId: 'p-test',
    logLevel: 'silent',
    logDestination: { write: () => undefined },
  });

/** Starts the CLI and resolves with its URL once it prints "Ready on". */
function serveWithCli(args: string[], env: Record<string, string> = {}): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, [cli, 'serve', ...args], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env },
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      const ready = /Ready on (http:\/\/\S+)/.exec(output);
      if (ready) resolve({ url: ready[1], output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

/** Runs the CLI to completion and returns its exit code and output. */
function runCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...process.env, LOG_FORMAT: 'json' } });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('app layout', () => {
  it('serves every module of functions/ when there is no main.ts, skipping test files', async () => {
    const server = await startTestServer([fixture('functions-app')]);
    try {
      const alpha = (await (await server.post('/v4/p-test/split/alpha')).json()) as { result: string };
      const beta = (await (await server.post('/v4/p-test/split/beta')).json()) as { result: string };
      expect(alpha.result).toBe('from alpha.ts');
      expect(beta.result).toBe('from beta.mjs');
      expect((await server.post('/v4/p-test/split/shouldNotBeServed')).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("an app outside this repository imports 'cerebrium-local' with no install of its own", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-outside-'));
    await writeFile(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "outside"\n');
    await writeFile(join(dir, 'package.json'), '{"type": "module"}\n');
    await writeFile(
      join(dir, 'main.ts'),
      [
        "import { defineFunction, Type } from 'cerebrium-local';",
        'export const shout = defineFunction({ params: Type.Object({ text: Type.String() }) }, ({ text }) => text.toUpperCase());',
      ].join('\n'),
    );
    const server = await startTestServer([dir]);
    try {
      const ok = await server.post('/v4/p-test/outside/shout', { text: 'hi' });
      expect(((await ok.json()) as { result: string }).result).toBe('HI');
      expect((await server.post('/v4/p-test/outside/shout', { text: 1 })).status).toBe(422);
    } finally {
      await server.close();
    }
  });

  it('serves several apps from one server', async () => {
    const server = await startTestServer([fixture('functions-app'), fixture('basic-app')]);
    try {
      expect((await server.post('/v4/p-test/split/alpha')).status).toBe(200);
      expect((await server.post('/v4/p-test/basic/plain')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refuses two modules exporting the same name, naming both files', async () => {
    const running = await startQuietly(fixture('duplicate-app'));
    try {
      await expect(running.loaded).rejects.toThrow(/"predict".*functions\/one\.ts and functions\/two\.ts/);
    } finally {
      await running.close();
    }
  });

  it('/ready is 503 until the function list is loaded, while /health is 200 all along', async () => {
    const running = await startQuietly(fixture('slow-load-app'));
    try {
      expect((await fetch(`${running.url}/health`)).status).toBe(200);
      const early = await fetch(`${running.url}/ready`);
      expect(early.status).toBe(503);
      const call = await fetch(`${running.url}/v4/p/slow-load/ping`, { method: 'POST' });
      expect(call.status).toBe(503);
      expect(((await call.json()) as { error: { code: string } }).error.code).toBe('apps_loading');
      await running.loaded;
      expect((await fetch(`${running.url}/ready`)).status).toBe(200);
      expect((await fetch(`${running.url}/v4/p/slow-load/ping`, { method: 'POST' })).status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe('cerebrium-local serve', () => {
  it('serves the repository demo app and prints the URL of each public function', async () => {
    const { url, output } = await serveWithCli(['--port', '0']);
    expect(output()).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/v4\/p-local\/demo\/run/);
    const res = await fetch(`${url}/v4/p-local/demo/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hello' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { answer: string } };
    expect(body.result.answer).toContain('You said: hello');
  });

  it('takes the port from PORT and the project id from --project-id', async () => {
    const { url, output } = await serveWithCli([fixture('functions-app'), '--project-id', 'p-abc'], { PORT: '0' });
    expect(output()).toContain('/v4/p-abc/split/alpha');
    expect((await fetch(`${url}/v4/p-abc/split/alpha`, { method: 'POST' })).status).toBe(200);
  });

  it('exits 1 naming the file and key when cerebrium.toml has a wrong type', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-cli-'));
    await writeFile(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "x"\n[cerebrium.scaling]\nmax_replicas = "two"\n');
    const { code, output } = await runCli(['serve', dir, '--port', '0']);
    expect(code).toBe(1);
    expect(output).toContain(join(dir, 'cerebrium.toml'));
    expect(output).toContain('[cerebrium.scaling].max_replicas must be an integer >= 1');
  });

  it('exits 1 when an app cannot be loaded', async () => {
    const { code, output } = await runCli(['serve', fixture('duplicate-app'), '--port', '0']);
    expect(code).toBe(1);
    expect(output).toMatch(/functions\/one\.ts and functions\/two\.ts/);
  });

  it('answers --help and rejects unknown commands', async () => {
    expect((await runCli(['--help'])).output).toContain('Usage: cerebrium-local serve');
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });
});
