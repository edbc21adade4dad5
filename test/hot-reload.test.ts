// `serve --watch`: edits to an app's code reach the next call without a restart; runs in flight
// finish on the old code; a broken edit keeps the old code serving.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

let dir: string;
let server: TestServer;

const mainTs = (version: string) => `
export const version = () => '${version}';
export async function slow({ ms = 1500 }: { ms?: number }) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return 'slow ${version}';
}
`;

async function result(fn: string, body: unknown = {}): Promise<unknown> {
  const res = await server.post(`/v4/p-test/reloading/${fn}`, body);
  return ((await res.json()) as { result?: unknown }).result;
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cl-reload-'));
  await writeFile(join(dir, 'package.json'), '{"type": "module"}\n');
  await writeFile(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "reloading"\n');
  await writeFile(join(dir, 'main.ts'), mainTs('v1'));
  server = await startTestServer([dir], { watch: true, logLevel: 'info' });
});

afterAll(async () => {
  await server?.close();
});

describe('hot reload', () => {
  it('an edit changes the next response without a restart, and a run in flight finishes on the old code', async () => {
    expect(await result('version')).toBe('v1');
    const inFlight = result('slow', { ms: 2_000 });
    await new Promise((r) => setTimeout(r, 200));
    await writeFile(join(dir, 'main.ts'), mainTs('v2'));
    await until(async () => (await result('version')) === 'v2');
    expect(await inFlight).toBe('slow v1');
    expect(await result('slow', { ms: 10 })).toBe('slow v2');
  });

  it('a syntax error keeps the old code serving and logs why', async () => {
    await writeFile(join(dir, 'main.ts'), 'export const version = () => {{{ not typescript');
    await until(async () => server.logs().some((line) => line.msg === 'reload failed; the app keeps serving its previous code'));
    expect(await result('version')).toBe('v2');
    await writeFile(join(dir, 'main.ts'), mainTs('v3'));
    await until(async () => (await result('version')) === 'v3');
  });

  it('a cerebrium.toml edit is picked up too', async () => {
    await writeFile(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "reloading"\n[cerebrium.scaling]\nmax_replicas = 3\n');
    await until(async () => server.running.registry.get('reloading')?.config.scaling.maxReplicas === 3);
    expect(await result('version')).toBe('v3');
  });
});
