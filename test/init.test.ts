// `cerebrium-local init`, then `serve` on what it wrote: the real CLI in child processes, as a user runs them.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_NAME_PATTERN, appNameFromFolder } from '../src/cli/init-command.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repoRoot, 'bin/cerebrium-local.mjs');
const TEMPLATE_FILES = ['.gitignore', 'README.md', 'cerebrium.toml', 'main.ts', 'package.json'];

let root: string;
const children = new Set<ChildProcessWithoutNullStreams>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cl-init-'));
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

function spawnCli(args: string[], cwd: string): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Runs the CLI to its end. */
function runCli(args: string[], cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** Starts `serve` and resolves with its URL once it prints "Ready on"; stop() ends it with SIGTERM. */
function serve(args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawnCli(['serve', ...args, '--port', '0', '--data-dir', join(root, 'data')], root);
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      const ready = /Ready on (http:\/\/\S+)/.exec(output);
      if (ready) {
        resolve({
          url: ready[1],
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('app names from folder names', () => {
  it('keeps a valid name and makes others fit the deployment name pattern', () => {
    expect(appNameFromFolder('my-app_2')).toBe('my-app_2');
    expect(appNameFromFolder('My Cool App!')).toBe('my-cool-app');
    expect(appNameFromFolder('  Crème brûlée  ')).toBe('creme-brulee');
    expect(appNameFromFolder('__private..thing--')).toBe('private-thing');
    expect(appNameFromFolder('日本')).toBe('my-app');
    expect(appNameFromFolder('.')).toBe('my-app');
    for (const folder of ['My Cool App!', '-x-', '😀 emoji', 'a/b']) expect(appNameFromFolder(folder)).toMatch(APP_NAME_PATTERN);
  });
});

describe('init, then serve', () => {
  let appDir: string;
  let server: { url: string; stop: () => Promise<void> };
  let base: string;

  beforeAll(async () => {
    appDir = join(root, 'Hello World App');
    const init = await runCli(['init', appDir]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('Wrote app "hello-world-app"');
    server = await serve([appDir]);
    base = `${server.url}/v4/p-local/hello-world-app`;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('writes the app files, named after the folder, as an ES module package', async () => {
    expect((await readdir(appDir)).sort()).toEqual(TEMPLATE_FILES);
    expect(await readFile(join(appDir, 'cerebrium.toml'), 'utf8')).toContain('name = "hello-world-app"');
    const pkg = JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8')) as { name: string; type: string };
    expect(pkg).toMatchObject({ name: 'hello-world-app', type: 'module' });
    const readme = await readFile(join(appDir, 'README.md'), 'utf8');
    expect(readme).not.toContain('__APP_NAME__');
    expect(readme).toContain('/v4/p-local/hello-world-app/chat/chat/completions');
  });

  it('answers the sync function, and its schema refuses a bad body', async () => {
    const res = await post(`${base}/predict`, { text: 'hello from my app' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { run_id: string; result: unknown };
    expect(body.result).toEqual({ words: 4, reversed: 'ppa ym morf olleh', app: 'hello-world-app' });
    expect(res.headers.get('x-request-id')).toBe(body.run_id);

    const bad = await post(`${base}/predict`, { text: 42 });
    expect(bad.status).toBe(422);
  });

  it('streams the generator as Server-Sent Events, one event per word as it is yielded', async () => {
    const res = await post(`${base}/stream`, { prompt: 'one event per word', delay_ms: 200 }, { accept: 'text/event-stream' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const started = performance.now();
    let text = '';
    let firstDataAt: number | undefined;
    const decoder = new TextDecoder();
    for await (const bytes of res.body!) {
      text += decoder.decode(bytes as Uint8Array, { stream: true });
      if (firstDataAt === undefined && text.includes('data: ')) firstDataAt = performance.now() - started;
    }
    const endedAt = performance.now() - started;
    const events = text.split('\n\n').filter((event) => event.startsWith('data: '));
    expect(events).toEqual(['data: one', 'data:  event', 'data:  per', 'data:  word']);
    // 4 words 200 ms apart: the first event came well before the stream ended, not all at once.
    expect(endedAt - firstDataAt!).toBeGreaterThan(300);
  });

  it('joins the generator into one result without Accept: text/event-stream', async () => {
    const res = await post(`${base}/stream`, { prompt: 'all at once', delay_ms: 0 });
    expect(((await res.json()) as { result: unknown }).result).toBe('all at once');
  });

  it('answers the chat function through the OpenAI SDK, streaming and not', async () => {
    const client = new OpenAI({ baseURL: `${base}/chat`, apiKey: 'unused', maxRetries: 0 });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hi there' }];

    const completion = await client.chat.completions.create({ model: 'echo', messages });
    expect(completion.choices[0].message.content).toBe('You said: Hi there');
    expect(completion.choices[0].finish_reason).toBe('stop');

    const stream = await client.chat.completions.create({ model: 'echo', messages, stream: true });
    const deltas: string[] = [];
    for await (const chunk of stream) deltas.push(chunk.choices[0]?.delta?.content ?? '');
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.join('')).toBe('You said: Hi there');
  });
});

describe('init into a folder that has files', () => {
  it('refuses to overwrite any of them without --force, writing nothing', async () => {
    const dir = join(root, 'taken');
    await mkdir(dir);
    await writeFile(join(dir, 'main.ts'), '// mine\n');
    const refused = await runCli(['init'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not overwriting main\.ts \(use --force/);
    expect(await readFile(join(dir, 'main.ts'), 'utf8')).toBe('// mine\n');
    expect(await readdir(dir)).toEqual(['main.ts']);

    const forced = await runCli(['init', '--force'], dir);
    expect(forced.code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(TEMPLATE_FILES);
    expect(await readFile(join(dir, 'main.ts'), 'utf8')).toContain('export const predict');
    expect(await readFile(join(dir, 'cerebrium.toml'), 'utf8')).toContain('name = "taken"');
  });

  it('takes --name, and refuses one that cerebrium.toml would reject', async () => {
    const named = await runCli(['init', join(root, 'named'), '--name', 'Custom_Name-1']);
    expect(named.code).toBe(0);
    expect(await readFile(join(root, 'named', 'cerebrium.toml'), 'utf8')).toContain('name = "Custom_Name-1"');

    const bad = await runCli(['init', join(root, 'bad-name'), '--name', 'bad name!']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--name must be');
    await expect(readdir(join(root, 'bad-name'))).rejects.toThrow(/ENOENT/);
  });
});
