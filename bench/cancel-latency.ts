// `node bin/run-ts.mjs bench/cancel-latency.ts`: how long after a streaming client disconnects
// the generator's `finally` runs in its replica (ctx.signal abort, cooperative, thread kept).
// Prints min / median / max over 20 disconnects.
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startServer } from '../src/serve.ts';

const app = fileURLToPath(new URL('../test/fixtures/stream-app', import.meta.url));
const server = await startServer({
  appDirs: [app],
  host: '127.0.0.1',
  port: 0,
  projectId: 'p-bench',
  logLevel: 'warn',
  logDestination: { write: () => undefined },
  sseHeartbeatMs: 0,
});
await server.loaded;

const probe = async () => {
  const res = await fetch(`${server.url}/v4/p-bench/streams/probe`, { method: 'POST' });
  return ((await res.json()) as { result: { finallyAt: number[] } }).result.finallyAt;
};

const latencies: number[] = [];
for (let i = 0; i < 20; i += 1) {
  const before = (await probe()).length;
  const req = request(`${server.url}/v4/p-bench/streams/ticking`, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
  });
  await new Promise<void>((resolve) => {
    req.on('response', (res) => res.once('data', () => resolve()));
    req.end('{}');
  });
  const leftAt = Date.now();
  req.destroy();
  let seen = await probe();
  while (seen.length === before) {
    await new Promise((r) => setTimeout(r, 5));
    seen = await probe();
  }
  latencies.push(seen[seen.length - 1] - leftAt);
}
latencies.sort((a, b) => a - b);
console.log(`disconnect → generator finally, 20 runs: min ${latencies[0]} ms, median ${latencies[10]} ms, max ${latencies[19]} ms`);
await server.close();
