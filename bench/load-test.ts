// `npm run bench:load`: 200 concurrent connections for 30 s against a trivial function whose app
// holds 100 runs at once and lets 50 more wait (bench/apps/load), on loopback. Passes when every answer is a 200 or one of the configured 429s, and the server's
// memory afterwards is within 10% of before. Writes bench/load-results.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { dataDir, root, rssMb, startProcess, stopProcess } from './processes.ts';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const CONNECTIONS = 200;
const MAX_QUEUE = 50;

const server = await startProcess('load', [
  join(root, 'bin/cerebrium-local.mjs'),
  'serve',
  join(root, 'bench/apps/load'),
  '--log-level',
  'info',
  '--max-queue',
  String(MAX_QUEUE),
  '--data-dir',
  dataDir('load'),
]);

const fire = (seconds: number) =>
  autocannon({
    url: `${server.url}/v4/p-bench/load/hello`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    connections: CONNECTIONS,
    duration: seconds,
  });

/** The server thread's V8 heap in use, from its own /metrics. */
async function heapUsedMb(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('cerebrium_local_nodejs_heap_size_used_bytes '));
  return Number(line?.split(' ')[1] ?? 0) / 1024 / 1024;
}

try {
  // Warm up (JIT, replicas, the run store's page cache) so "before" is a server in use, not a cold one.
  await fire(10);
  await new Promise((r) => setTimeout(r, 5_000));
  const before = rssMb(server.pid);
  const heapBefore = await heapUsedMb();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.pid))), 250);
  const result = await fire(SECONDS);
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 5_000));
  const after = rssMb(server.pid);
  const heapAfter = await heapUsedMb();

  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, (stat as { count: number }).count]),
  );
  const unexpected = Object.entries(statuses).filter(([code]) => code !== '200' && code !== '429');
  const figures = {
    command: 'npm run bench:load',
    date: new Date().toISOString(),
    node: process.version,
    seconds: SECONDS,
    connections: CONNECTIONS,
    maxQueue: MAX_QUEUE,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    rssMb: { before: Math.round(before), peak: Math.round(peak), after: Math.round(after) },
    rssChange: after / before - 1,
    heapUsedMb: { before: Math.round(heapBefore), after: Math.round(heapAfter) },
  };
  writeFileSync(join(root, 'bench/load-results.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(JSON.stringify(figures, null, 2));
  const ok = unexpected.length === 0 && result.errors === 0 && result.timeouts === 0 && Math.abs(figures.rssChange) <= 0.1;
  console.log(ok ? 'PASS' : `FAIL: ${JSON.stringify({ unexpected, errors: result.errors, timeouts: result.timeouts })}`);
  process.exitCode = ok ? 0 : 1;
} finally {
  await stopProcess(server);
}
