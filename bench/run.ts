// `npm run bench [-- --quick]`: measures the emulator against bare baselines run side by side in
// the same run, on loopback, and writes bench/RESULTS.md and bench/results.json (a --quick run writes
// bench/RESULTS-quick.md and bench/results-quick.json instead, which are not committed).
// Every server under test is its own process; the load comes from this one.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { benchEmbeddings, benchRealisticEmbeddings, type EmbeddingsBench, realisticModelFolder } from './embeddings.ts';
import { dataDir, freePort, root, rssMb, type Server, startProcess, stopProcess } from './processes.ts';
import { benchReplicaMemory } from './replica-memory.ts';
import { benchWarmUp } from './warm-up.ts';

const quick = process.argv.includes('--quick');
const outputs = quick ? { markdown: 'RESULTS-quick.md', json: 'results-quick.json' } : { markdown: 'RESULTS.md', json: 'results.json' };
// A quick run (a smoke test of every part, under a minute or so) measures each figure once.
const REPS = quick ? 1 : 3;
const LOAD_SECONDS = quick ? 1 : 8;
const CONNECTIONS = 50;
const STREAM_CHUNKS = 10_000;
const MEMORY_CALLS = quick ? 5_000 : 100_000;
const LATENCY_CALLS = quick ? 200 : 2_000;
/** Calls of hello() timed by each run of the bare Python loop. */
const PYTHON_LOOP_CALLS = quick ? 100_000 : 1_000_000;

const benchApp = join(root, 'bench/apps/trivial');
const coldApp = join(root, 'bench/apps/cold');
const pythonApp = join(root, 'bench/apps/python-trivial');
const pythonColdApp = join(root, 'bench/apps/python-cold');
const bridge = join(root, 'src/python/bridge.py');

interface LoadFigures {
  rps: number;
  errors: number;
}

async function load(
  url: string,
  options: { seconds?: number; amount?: number; connections?: number; bodies?: string[] } = {},
): Promise<LoadFigures> {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    // Each request takes the next body in turn, when several are given.
    requests: options.bodies?.map((body) => ({ body })),
    connections: options.connections ?? CONNECTIONS,
    duration: options.seconds ?? LOAD_SECONDS,
    amount: options.amount,
  });
  return { rps: result.requests.average, errors: result.errors + result.timeouts + result.non2xx };
}

/** p50 and p99 of calls made one after another on one connection (autocannon rounds to whole ms). */
async function latencies(url: string, calls: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < calls; i += 1) times.push(await timedCall(url));
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(calls * 0.5)], p99: times[Math.floor(calls * 0.99)] };
}

interface StreamFigures {
  eventsPerSecond: number;
  ttfbMs: number;
  events: number;
}

async function readStream(url: string): Promise<StreamFigures> {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ count: STREAM_CHUNKS }),
  });
  let ttfb = 0;
  let events = 0;
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (ttfb === 0) ttfb = performance.now() - started;
    // Counting blank-line separators is enough to count events, and costs both servers alike.
    events += decoder.decode(bytes, { stream: true }).split('\n\n').length - 1;
  }
  const seconds = (performance.now() - started) / 1000;
  if (events !== STREAM_CHUNKS) throw new Error(`${url}: expected ${STREAM_CHUNKS} events, got ${events}`);
  return { eventsPerSecond: events / seconds, ttfbMs: ttfb, events };
}

async function timedCall(url: string): Promise<number> {
  return (await timedRun(url)).ms;
}

/** A sync call's round trip, and its run id (for the runs API). */
async function timedRun(url: string): Promise<{ ms: number; runId: string }> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const body = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body}`);
  return { ms, runId: res.headers.get('x-request-id') ?? (JSON.parse(body) as { run_id: string }).run_id };
}

interface Spread {
  min: number;
  median: number;
  max: number;
}

/** Two decimals, or two significant digits below 0.1 (the bare Python loop's µs per call). */
const num = (v: number) => (v !== 0 && Math.abs(v) < 0.1 ? v.toPrecision(2) : v.toFixed(2));
const fmt = (s: Spread) => `${num(s.median)} (${num(s.min)}–${num(s.max)})`;

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

interface Row {
  measure: string;
  unit: string;
  emulator: Spread;
  baseline: Spread;
  baselineName: string;
  /** emulator median / baseline median */
  ratio: number;
}

const rows: Row[] = [];
function addRow(measure: string, unit: string, emulator: number[], baseline: number[], baselineName: string): void {
  const e = spread(emulator);
  const b = spread(baseline);
  rows.push({ measure, unit, emulator: e, baseline: b, baselineName, ratio: e.median / b.median });
  console.log(`${measure}: emulator ${fmt(e)} ${unit} | ${baselineName} ${fmt(b)} | ratio ${(e.median / b.median).toFixed(3)}`);
}

interface SyncFigures {
  load: LoadFigures[];
  latency: Array<{ p50: number; p99: number }>;
}

/** Throughput at 50 connections and one-connection p50 / p99, of the emulator against a baseline. */
function addSyncRows(measure: string, emulator: SyncFigures, baseline: SyncFigures, baselineName: string): void {
  const rps = (f: SyncFigures) => f.load.map((x) => x.rps);
  addRow(`${measure}, trivial function: throughput`, 'req/s', rps(emulator), rps(baseline), baselineName);
  for (const p of ['p50', 'p99'] as const) {
    const at = (f: SyncFigures) => f.latency.map((x) => x[p]);
    addRow(`${measure}, one connection: ${p} latency`, 'ms', at(emulator), at(baseline), baselineName);
  }
}

async function benchSyncAndStreams(): Promise<void> {
  const bare = await startProcess('bare', [join(root, 'bin/run-ts.mjs'), join(root, 'bench/bare-server.ts')]);
  const emulator = await startProcess('emulator', [
    join(root, 'bin/cerebrium-local.mjs'),
    'serve',
    benchApp,
    '--log-level',
    'info',
    '--data-dir',
    dataDir('sync'),
  ]);
  try {
    const bareUrl = `${bare.url}/bare/hello`;
    const emuUrl = `${emulator.url}/v4/p-bench/bench/hello`;
    // Warm both (JIT, replicas) before measuring.
    await load(bareUrl, { seconds: 1 });
    await load(emuUrl, { seconds: 1 });

    const sync = { emu: [] as LoadFigures[], bare: [] as LoadFigures[] };
    const latency = { emu: [] as Array<{ p50: number; p99: number }>, bare: [] as Array<{ p50: number; p99: number }> };
    for (let rep = 0; rep < REPS; rep += 1) {
      sync.bare.push(await load(bareUrl));
      sync.emu.push(await load(emuUrl));
      latency.bare.push(await latencies(bareUrl, LATENCY_CALLS));
      latency.emu.push(await latencies(emuUrl, LATENCY_CALLS));
    }
    const errors = sync.emu.reduce((n, f) => n + f.errors, 0) + sync.bare.reduce((n, f) => n + f.errors, 0);
    if (errors > 0) console.warn(`sync load saw ${errors} errors`);
    addSyncRows('sync invoke', { load: sync.emu, latency: latency.emu }, { load: sync.bare, latency: latency.bare }, 'bare Fastify route');

    const streams = { emu: [] as StreamFigures[], bare: [] as StreamFigures[] };
    await readStream(`${bare.url}/bare/chunks`);
    await readStream(`${emulator.url}/v4/p-bench/bench/chunks`);
    for (let rep = 0; rep < REPS; rep += 1) {
      streams.bare.push(await readStream(`${bare.url}/bare/chunks`));
      streams.emu.push(await readStream(`${emulator.url}/v4/p-bench/bench/chunks`));
    }
    const label = `SSE, one stream of ${STREAM_CHUNKS.toLocaleString('en')} small chunks`;
    addRow(
      `${label}: events/s`,
      'events/s',
      streams.emu.map((s) => s.eventsPerSecond),
      streams.bare.map((s) => s.eventsPerSecond),
      'bare Fastify SSE route (in-process generator)',
    );
    addRow(
      `${label}: time to first byte`,
      'ms',
      streams.emu.map((s) => s.ttfbMs),
      streams.bare.map((s) => s.ttfbMs),
      'bare Fastify SSE route (in-process generator)',
    );

    // Memory of the emulator process (server thread and replicas), against the bare server's.
    const idle = { emu: rssMb(emulator.pid), bare: rssMb(bare.pid) };
    const peak = { emu: 0, bare: 0 };
    const sample = setInterval(() => {
      peak.emu = Math.max(peak.emu, rssMb(emulator.pid));
      peak.bare = Math.max(peak.bare, rssMb(bare.pid));
    }, 100);
    await load(emuUrl, { amount: MEMORY_CALLS });
    await load(bareUrl, { amount: MEMORY_CALLS });
    clearInterval(sample);
    await new Promise((r) => setTimeout(r, 1_000));
    const after = { emu: rssMb(emulator.pid), bare: rssMb(bare.pid) };
    addRow('RSS idle (after warm-up)', 'MB', [idle.emu], [idle.bare], 'bare Fastify process');
    addRow('RSS peak under load', 'MB', [peak.emu], [peak.bare], 'bare Fastify process');
    addRow(`RSS after ${MEMORY_CALLS.toLocaleString('en')} more calls`, 'MB', [after.emu], [after.bare], 'bare Fastify process');
  } finally {
    await stopProcess(emulator);
    await stopProcess(bare);
  }
}

/** First call after the replica has cooled down (a new thread imports the app) vs a warm call. */
async function benchColdStart(): Promise<void> {
  const emulator = await startProcess('cold', [
    join(root, 'bin/cerebrium-local.mjs'),
    'serve',
    coldApp,
    '--log-level',
    'warn',
    '--data-dir',
    dataDir('cold'),
  ]);
  const url = `${emulator.url}/v4/p-bench/cold/hello`;
  const replicas = async () =>
    ((await (await fetch(`${emulator.url}/ready`)).json()) as { apps: { cold: { replicas: number } } }).apps.cold.replicas;
  try {
    const cold: number[] = [];
    const warm: number[] = [];
    for (let rep = 0; rep < REPS; rep += 1) {
      const deadline = Date.now() + 15_000;
      while ((await replicas()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      cold.push(await timedCall(url));
      warm.push(await timedCall(url));
    }
    addRow('call needing a new replica (cold start)', 'ms', cold, warm, 'warm call to the same replica');
  } finally {
    await stopProcess(emulator);
  }
  await coldStartBreakdown();
}

/** Milliseconds from `new Worker(file)` until the file says it is ready. */
async function workerReadyMs(file: string): Promise<number> {
  const started = performance.now();
  const worker = new Worker(join(root, 'bench/cold-parts', file));
  await once(worker, 'message');
  const ms = performance.now() - started;
  await worker.terminate();
  return ms;
}

/** Where a thread replica's start goes, step by step, each step against the one before it. */
async function coldStartBreakdown(): Promise<void> {
  const steps = [
    ['thread.mjs', 'a worker thread that does nothing'],
    ['loader.mjs', '+ loader hooks registered (tsx, the cerebrium-local resolver)'],
    ['framework.mjs', "+ the replica's own code imported"],
    ['app.mjs', '+ the app (bench/apps/cold) imported'],
  ] as const;
  const times = new Map<string, number[]>();
  for (let rep = 0; rep < REPS; rep += 1) {
    for (const [file] of steps) times.set(file, [...(times.get(file) ?? []), await workerReadyMs(file)]);
  }
  for (let i = 1; i < steps.length; i += 1) {
    const [file, name] = steps[i];
    const [before, beforeName] = steps[i - 1];
    addRow(`cold start breakdown: ${name}`, 'ms', times.get(file) ?? [], times.get(before) ?? [], beforeName);
  }
}

/** p99 of `calls` sequential GET /health, in ms. */
async function healthP99(url: string, calls: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < calls; i += 1) {
    const started = performance.now();
    await (await fetch(`${url}/health`)).arrayBuffer();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length * 0.99)];
}

/** /health while 60 MB results are made, sent and stored, and runs pages are read, against idle /health. */
async function benchHealthUnderBigResults(): Promise<void> {
  const emulator = await startProcess('stall', [
    join(root, 'bin/cerebrium-local.mjs'),
    'serve',
    benchApp,
    '--log-level',
    'warn',
    '--data-dir',
    dataDir('stall'),
  ]);
  const calls = quick ? 300 : 1_000;
  try {
    const idle: number[] = [];
    const busy: number[] = [];
    for (let rep = 0; rep < REPS; rep += 1) {
      idle.push(await healthP99(emulator.url, calls));
      let stop = false;
      const pressure = (async () => {
        while (!stop) {
          const res = await fetch(`${emulator.url}/v4/p-bench/bench/big`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"mb":60}',
          });
          await res.arrayBuffer();
          await (await fetch(`${emulator.url}/v2/projects/p-bench/apps/p-bench-bench/runs?limit=100`)).arrayBuffer();
        }
      })();
      busy.push(await healthP99(emulator.url, calls));
      stop = true;
      await pressure;
    }
    addRow('/health p99 while 60 MB results are stored and runs pages read', 'ms', busy, idle, 'idle /health p99');
  } finally {
    await stopProcess(emulator);
  }
}

/** The interpreter the Python rows use: python3's own executable (not a pyenv shim), or none. */
function pythonExecutable(): string | undefined {
  const found = spawnSync(process.env.BENCH_PYTHON ?? 'python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function serveArgs(name: string, app: string, python?: string): string[] {
  const args = [join(root, 'bin/cerebrium-local.mjs'), 'serve', app, '--log-level', 'info', '--data-dir', dataDir(name)];
  return python ? [...args, '--python', python] : args;
}

/** A custom runtime (examples/custom-runtime) through the emulator, against the same server called directly. */
async function benchCustomRuntime(python: string): Promise<void> {
  const example = join(root, 'examples/custom-runtime');
  const port = await freePort();
  const direct = spawn(python, ['server.py', String(port)], { cwd: example, stdio: 'ignore' });
  const emulator = await startProcess('custom', serveArgs('custom', example));
  try {
    const directUrl = `http://127.0.0.1:${port}/echo`;
    const emuUrl = `${emulator.url}/v4/p-bench/custom-runtime/echo`;
    // The app's capacity is 2 replicas × 4: both sides get 8 connections, so neither queues.
    const connections = 8;
    await load(directUrl, { seconds: 1, connections });
    await load(emuUrl, { seconds: 1, connections });
    const rps = { emu: [] as number[], direct: [] as number[] };
    const p50 = { emu: [] as number[], direct: [] as number[] };
    for (let rep = 0; rep < REPS; rep += 1) {
      rps.direct.push((await load(directUrl, { connections })).rps);
      rps.emu.push((await load(emuUrl, { connections })).rps);
      p50.direct.push((await latencies(directUrl, LATENCY_CALLS)).p50);
      p50.emu.push((await latencies(emuUrl, LATENCY_CALLS)).p50);
    }
    const baseline = 'the same server.py called directly';
    addRow('custom runtime, POST /echo forwarded: throughput at 8 connections', 'req/s', rps.emu, rps.direct, baseline);
    addRow('custom runtime, POST /echo forwarded: p50 latency, one connection', 'ms', p50.emu, p50.direct, baseline);
  } finally {
    direct.kill();
    await stopProcess(emulator);
  }
}

/** µs per call of hello() called in-process by a bare Python loop (bench/python-loop.py). */
function pythonLoopMicros(python: string): number {
  const ran = spawnSync(python, [join(root, 'bench/python-loop.py'), pythonApp, String(PYTHON_LOOP_CALLS)], { encoding: 'utf8' });
  if (ran.status !== 0) throw new Error(`bench/python-loop.py failed: ${ran.stderr}`);
  return (JSON.parse(ran.stdout) as { perCallUs: number }).perCallUs;
}

/** The trivial Python function through the emulator, against the trivial TypeScript one and a bare Python loop. */
async function benchPython(python: string): Promise<void> {
  const ts = await startProcess('python-ts', serveArgs('python-ts', benchApp));
  const py = await startProcess('python', serveArgs('python', pythonApp, python));
  try {
    const tsUrl = `${ts.url}/v4/p-bench/bench/hello`;
    const pyUrl = `${py.url}/v4/p-bench/python-bench/hello`;
    await load(tsUrl, { seconds: 1 });
    await load(pyUrl, { seconds: 1 });
    const sync = { py: [] as LoadFigures[], ts: [] as LoadFigures[] };
    const latency = { py: [] as Array<{ p50: number; p99: number }>, ts: [] as Array<{ p50: number; p99: number }> };
    const loop: number[] = [];
    for (let rep = 0; rep < REPS; rep += 1) {
      sync.ts.push(await load(tsUrl));
      sync.py.push(await load(pyUrl));
      latency.ts.push(await latencies(tsUrl, LATENCY_CALLS));
      latency.py.push(await latencies(pyUrl, LATENCY_CALLS));
      loop.push(pythonLoopMicros(python));
    }
    const errors = [...sync.py, ...sync.ts].reduce((n, f) => n + f.errors, 0);
    if (errors > 0) console.warn(`python sync load saw ${errors} errors`);
    const tsName = 'TypeScript trivial function, same emulator build';
    addSyncRows('Python sync invoke', { load: sync.py, latency: latency.py }, { load: sync.ts, latency: latency.ts }, tsName);
    addRow(
      'Python sync invoke, one connection: p50 latency',
      'µs',
      latency.py.map((f) => f.p50 * 1000),
      loop,
      `bare Python loop calling hello() in-process (per call, ${PYTHON_LOOP_CALLS.toLocaleString('en')} calls)`,
    );
  } finally {
    await stopProcess(py);
    await stopProcess(ts);
  }
}

/** ms from spawning a command to its exit. */
async function timedExit(command: string, args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
  return performance.now() - started;
}

/** ms from spawning src/python/bridge.py (as the server does, without a server) to its `ready` line on fd 3. */
async function bridgeSpawnToReady(python: string, app: string, env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const child = spawn(python, ['-u', bridge, 'serve', app, '1'], {
    cwd: app,
    env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  try {
    for await (const line of createInterface({ input: child.stdio[3] as Readable, crlfDelay: Number.POSITIVE_INFINITY })) {
      if ((JSON.parse(line) as { type?: string }).type === 'ready') return performance.now() - started;
    }
    throw new Error(`${bridge} ended before it was ready`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** A finished run's queue time (ms from arrival to running), from the runs API. */
async function queueTimeMs(server: Server, app: string, runId: string): Promise<number> {
  for (let tries = 0; tries < 100; tries += 1) {
    const res = await fetch(`${server.url}/v2/projects/p-bench/apps/p-bench-${app}/runs/${runId}`);
    if (res.ok) {
      const { item } = (await res.json()) as { item: { queueTimeMs: number | null } };
      if (item.queueTimeMs !== null) return item.queueTimeMs;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`run ${runId} has no queue time`);
}

interface ColdFigures {
  coldQueue: number[];
  warmQueue: number[];
  coldTrip: number[];
  warmTrip: number[];
}

/** First call to bench/apps/python-cold with no replica (a new process imports main.py), then a warm one. */
async function pythonColdCalls(python: string, importSleepS: string): Promise<ColdFigures> {
  const name = `python-cold-${importSleepS}`;
  const server = await startProcess(name, serveArgs(name, pythonColdApp, python), { BENCH_IMPORT_SLEEP_S: importSleepS });
  const url = `${server.url}/v4/p-bench/python-cold/hello`;
  const replicas = async () =>
    ((await (await fetch(`${server.url}/ready`)).json()) as { apps: { 'python-cold': { replicas: number } } }).apps['python-cold'].replicas;
  const figures: ColdFigures = { coldQueue: [], warmQueue: [], coldTrip: [], warmTrip: [] };
  try {
    for (let rep = 0; rep < REPS; rep += 1) {
      const deadline = Date.now() + 15_000;
      while ((await replicas()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const cold = await timedRun(url);
      const warm = await timedRun(url);
      figures.coldTrip.push(cold.ms);
      figures.warmTrip.push(warm.ms);
      figures.coldQueue.push(await queueTimeMs(server, 'python-cold', cold.runId));
      figures.warmQueue.push(await queueTimeMs(server, 'python-cold', warm.runId));
    }
    return figures;
  } finally {
    await stopProcess(server);
  }
}

/** A Python replica's cold start, broken down: interpreter start, the bridge's own start, the app's import, dispatch. */
async function benchPythonColdStart(python: string): Promise<void> {
  const interpreter: number[] = [];
  const bridgeReady = { none: [] as number[], sleep: [] as number[] };
  for (let rep = 0; rep < REPS; rep += 1) {
    interpreter.push(await timedExit(python, ['-c', 'pass']));
    bridgeReady.none.push(await bridgeSpawnToReady(python, pythonColdApp, { BENCH_IMPORT_SLEEP_S: '0' }));
    bridgeReady.sleep.push(await bridgeSpawnToReady(python, pythonColdApp, { BENCH_IMPORT_SLEEP_S: '0.2' }));
  }
  const none = await pythonColdCalls(python, '0');
  const sleep = await pythonColdCalls(python, '0.2');
  const label = (s: string) => `Python cold call, import sleeping ${s}: queue time`;
  addRow(label('0 s'), 'ms', none.coldQueue, interpreter, '`python3 -c pass`, spawn to exit (interpreter start)');
  addRow(label('0 s'), 'ms', none.coldQueue, bridgeReady.none, 'bridge spawn → `ready`, no server, same app');
  addRow(label('0.2 s'), 'ms', sleep.coldQueue, none.coldQueue, 'the same call, import sleeping 0 s');
  addRow(label('0.2 s'), 'ms', sleep.coldQueue, bridgeReady.sleep, 'bridge spawn → `ready`, no server, same app');
  addRow(label('0.2 s'), 'ms', sleep.coldQueue, sleep.warmQueue, 'warm call to the same replica: queue time');
  addRow(
    'Python cold call, import sleeping 0.2 s: round trip',
    'ms',
    sleep.coldTrip,
    sleep.warmTrip,
    'warm call to the same replica: round trip',
  );
}

function machine(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    date: new Date().toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
  };
}

function writeResults(info: Record<string, string | number>): void {
  const json = { machine: info, repetitions: REPS, loadSeconds: LOAD_SECONDS, connections: CONNECTIONS, rows };
  writeFileSync(join(root, `bench/${outputs.json}`), `${JSON.stringify(json, null, 2)}\n`);
  const lines = [
    '# Benchmark results',
    '',
    `Command: \`${info.command}\` · ${info.date} · Node ${info.node} · ${info.cores} × ${info.cpu} · ${info.memoryGb} GiB`,
    '',
    `Each figure is the median (min–max) of ${REPS} repetitions unless the row says otherwise; load runs use autocannon`,
    `with ${CONNECTIONS} connections for ${LOAD_SECONDS} s on loopback, from the same machine. The ratio is emulator ÷ baseline`,
    '(above 1 is more for throughput, worse for latency and memory).',
    '',
    '| measure | emulator | baseline | baseline is | ratio |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) => `| ${r.measure} (${r.unit}) | ${fmt(r.emulator)} | ${fmt(r.baseline)} | ${r.baselineName} | ${r.ratio.toFixed(3)} |`,
    ),
    '',
    'Notes:',
    '- The emulator logs one JSON line per run (log level info), as it does by default; the bare server logs nothing.',
    '- Memory rows are single readings of VmRSS, emulator process (server thread and its replicas) against the bare process.',
    '- Cold start: an app with min_replicas = 0 and cooldown = 1 s; the cold call waits for a new replica thread to start',
    '  and import the app through tsx, the warm call right after reuses it. Round-trip latency seen by the client.',
    "- Embeddings: the demo app's `embed` (batched: up to 32 inputs or 5 ms, within a token budget) with its model",
    '  folder named by EMBED_MODEL: the generated stand-in (models/embed/: 32 hidden units, so the model is cheap and',
    '  the figures weigh the serving path) and a MiniLM-L6-shaped encoder (models/minilm-l6-shaped/, generated by',
    '  `npm run models -- --realistic`: vocab 30522, hidden 384, 6 layers, 12 heads, FFN 1536, random weights). The',
    "  baseline tokenises, runs and pools the same sentences with the folder's tokenizer and a raw onnxruntime",
    `  session (${cpus().length} intra-op threads, as many as the machine has) in the bench process.`,
    '- Python rows: bench/apps/python-trivial (`def hello(): return {"ok": True}`, one python3 process per replica',
    '  through src/python/bridge.py, scaled like the TypeScript app) against the TypeScript trivial function served by a',
    '  second emulator process in the same run, and against bench/python-loop.py, which imports the same main.py and',
    `  times ${PYTHON_LOOP_CALLS.toLocaleString('en')} calls of hello() in a bare loop (µs per call, loop included).`,
    "  The interpreter is python3's own executable (`sys.executable`, not a pyenv shim; BENCH_PYTHON to pick another).",
    '- Python cold start: bench/apps/python-cold (min_replicas = 0, cooldown = 1 s), whose import sleeps',
    '  BENCH_IMPORT_SLEEP_S (0 or 0.2 s). Queue time is `queueTimeMs` from the runs API: arrival to running, so for',
    "  a cold call it holds the process spawn, the interpreter start, the bridge's own imports and main.py's import.",
    '  "bridge spawn → `ready`" starts src/python/bridge.py the way the server does, from the bench process with no',
    '  server, and stops at its `ready` line.',
    '',
  ];
  writeFileSync(join(root, `bench/${outputs.markdown}`), lines.join('\n'));
}

const info = machine();
console.log(`bench: ${JSON.stringify(info)}`);
// `--only=sync,memory,cold,embed,embed-minilm,warm-up,stall,python,python-cold,custom` runs some parts (while developing); RESULTS.md is only written by a full run.
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const wanted = (part: string) => !only || only.includes(part);
/** Runs one part of the bench and says how long it took (to keep --quick quick). */
async function part(name: string, run: () => Promise<void>): Promise<void> {
  const started = performance.now();
  await run();
  console.log(`bench: ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
if (wanted('sync')) await part('sync', benchSyncAndStreams);
if (wanted('memory'))
  await part('memory', () =>
    benchReplicaMemory({ reps: REPS, settleMs: quick ? 700 : 3_000, replicaCounts: quick ? [0, 1] : [1, 3], addRow }),
  );
if (wanted('cold')) await part('cold', benchColdStart);
const embeddingsBench: EmbeddingsBench = { reps: REPS, seconds: LOAD_SECONDS, load, addRow };
if (wanted('embed')) await part('embed', () => benchEmbeddings(embeddingsBench));
// The MiniLM-shaped model (≈90 MB) makes these rows slow: full runs only (or --only=embed-minilm / --only=warm-up).
if ((!quick && !only) || only?.includes('embed-minilm')) await part('embed-minilm', () => benchRealisticEmbeddings(embeddingsBench));
if ((!quick && !only) || only?.includes('warm-up')) {
  await part('warm-up', async () => benchWarmUp({ reps: REPS, addRow }, await realisticModelFolder()));
}
if (wanted('stall')) await part('stall', benchHealthUnderBigResults);
if (wanted('python') || wanted('python-cold') || wanted('custom')) {
  const python = pythonExecutable();
  if (!python) console.warn('bench: no python3 (or BENCH_PYTHON) to run, so no Python rows');
  else if (wanted('python')) await part('python', () => benchPython(python));
  if (python && wanted('python-cold')) await part('python-cold', () => benchPythonColdStart(python));
  if (python && wanted('custom')) await part('custom', () => benchCustomRuntime(python));
}
if (!only) {
  writeResults(info);
  console.log(`wrote bench/${outputs.markdown} and bench/${outputs.json}`);
}
