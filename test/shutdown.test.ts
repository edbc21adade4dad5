// SIGTERM on the real CLI process: new calls get 503 while a running call drains to success,
// then the process exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { fixture } from './helpers/test-server.ts';

const cli = fileURLToPath(new URL('../bin/cerebrium-local.mjs', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'cl-shutdown-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The CLI as a child process, once it has printed the URL it serves on. */
async function startCli(args: string[]) {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' } });
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
  return { child, exited, url };
}

it('SIGTERM answers new calls 503, drains a running call to success, and exits 0', async () => {
  const { child, exited, url } = await startCli(['serve', fixture('capacity-app'), '--port', '0', '--data-dir', dataDir]);
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

it('SIGTERM with a client that stopped reading a stream closes its connection and exits within the grace', async () => {
  const { child, exited, url } = await startCli([
    'serve',
    fixture('stream-app'),
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--shutdown-grace-ms',
    '500',
  ]);
  // A client that asks for a fast, endless stream and never reads it (--stream-stall-ms is left at 60 s).
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
  socket.on('error', () => undefined);
  socket.pause();
  const body = '{"chunkBytes":262144}';
  socket.write(
    `POST /v4/p-test/streams/endless HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  try {
    await new Promise((r) => setTimeout(r, 1_500));
    const stoppedAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The grace (0.5 s), the cancelled run's 2 s to stop at most, and a margin for a busy machine.
    expect(Date.now() - stoppedAt).toBeLessThan(4_500);
  } finally {
    socket.destroy();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 20_000);
