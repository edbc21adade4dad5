// SIGTERM on the real CLI process: new calls get 503 while a running call drains to success,
// then the process exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { fixture } from './helpers/test-server.ts';

const cli = fileURLToPath(new URL('../bin/cerebrium-local.mjs', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'cl-shutdown-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('SIGTERM answers new calls 503, drains a running call to success, and exits 0', async () => {
  const child = spawn(process.execPath, [cli, 'serve', fixture('capacity-app'), '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const ready = /Ready on (http:\/\/\S+)/.exec(output);
      if (ready) resolve(ready[1]);
    });
    child.on('exit', () => reject(new Error(output)));
  });
  const call = (ms: number) =>
    fetch(`${url}/v4/p-test/capacity/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms }),
    });

  const running = call(1_500);
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));

  const refused = await call(10);
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
  expect((await fetch(`${url}/ready`)).status).toBe(503);

  const drained = await running;
  expect(drained.status).toBe(200);
  expect(((await drained.json()) as { result: { startedAt: number } }).result.startedAt).toBeGreaterThan(0);
  expect(await exited).toBe(0);
});
