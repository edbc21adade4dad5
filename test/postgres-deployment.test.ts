// Several servers as one deployment on one Postgres (--database-url): real server processes (the
// CLI, so one can be killed with SIGKILL) on a real Postgres started here, over real HTTP.
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { MIGRATIONS } from '../src/runs/postgres-migrations.ts';
import {
  ASYNC_APP,
  type ChildServer,
  getJson,
  getRun,
  NARROW_APP,
  PROJECT,
  pollRun,
  runsPath,
  spawnServer,
  startReceiver,
  type TempDir,
  tempDataDir,
} from './async-support.ts';
import { startTestPostgres, type TestPostgres } from './postgres-support.ts';

const SOLO_APP = fileURLToPath(new URL('./fixtures/solo-app', import.meta.url));
/**
 * Short leases, so a killed server's runs are taken over within seconds; not shorter, as a server
 * on these 2 busy cores can pause for more than a second, and a lease that runs out under a live
 * server hands its taken runs to another (see docs/deployment.md).
 */
const LEASE_MS = 2_000;

// Started while the file is collected, so a machine where Postgres cannot start skips with the reason.
const started = await startTestPostgres();
const skipReason = typeof started === 'string' ? started : '';
if (skipReason) console.warn(`skipping the Postgres deployment tests: ${skipReason}`);
const postgres: TestPostgres | undefined = typeof started === 'string' ? undefined : started;

let databaseUrl = '';
let a: ChildServer;
let b: ChildServer;
const children: ChildServer[] = [];
const dirs: TempDir[] = [];
let db: pg.Pool;

/** A server of the deployment, serving `apps`. */
async function join(apps: string[]): Promise<ChildServer> {
  const dir = tempDataDir();
  dirs.push(dir);
  const args = ['--database-url', databaseUrl, '--run-lease-ms', String(LEASE_MS), '--allow-faults'];
  const server = await spawnServer(apps, dir.path, args);
  children.push(server);
  return server;
}

beforeAll(async () => {
  if (!postgres) return;
  databaseUrl = await postgres.database('deployment');
  db = new pg.Pool({ connectionString: databaseUrl });
  db.on('error', () => undefined);
  // Both at once, on a database with no tables yet: the migrations race.
  [a, b] = await Promise.all([join([ASYNC_APP, NARROW_APP]), join([ASYNC_APP, NARROW_APP])]);
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await db?.end().catch(() => undefined);
  await postgres?.remove();
  for (const d of dirs) d.remove();
}, 30_000);

const post = (server: ChildServer, path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

async function callAsync(server: ChildServer, app: string, fn: string, body: unknown, query = ''): Promise<string> {
  const res = await post(server, `/v4/${PROJECT}/${app}/${fn}?async=true${query}`, body);
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function listRuns(server: ChildServer, app: string): Promise<ApiRun[]> {
  const { body } = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath(app)}?limit=100`);
  return body.items;
}

describe.skipIf(skipReason !== '')('several servers on one Postgres', () => {
  it('apply the migrations once when they start at the same moment on a new database, and both are ready', async () => {
    const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
    for (const server of [a, b]) expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });

  it('show a run started on A through B, and a cancel sent to B stops it on A as a local cancel would', async () => {
    const call = post(a, `/v4/${PROJECT}/async/untilCancelled`);
    const run = await until('the run on A to show as running on B', async () =>
      (await listRuns(b, 'async')).find((r) => r.functionName === 'untilCancelled' && r.status === 'running'),
    );
    expect(await getRun(b.url, 'async', run.id)).toMatchObject({ id: run.id, status: 'running', async: false });

    const sent = performance.now();
    const cancel = await post(b, `${runsPath('async')}/${run.id}/cancel`);
    const cancelMs = performance.now() - sent;
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as { item: ApiRun }).item).toMatchObject({ id: run.id, status: 'cancelled' });
    const answer = await call;
    expect(answer.status).toBe(500);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('run_cancelled');
    console.info(`cancel across servers answered in ${cancelMs.toFixed(1)} ms`);
    // The NOTIFY reaches A in well under 100 ms; the answer also waits for A's record of the end. Generous for 2 busy cores.
    expect(cancelMs).toBeLessThan(2_000);
    // A second cancel finds it ended, on either server.
    expect((await post(a, `${runsPath('async')}/${run.id}/cancel`)).status).toBe(409);
  });

  it('run a queued async run on whichever server has room: two runs sent to A for a one-at-a-time app run at once', async () => {
    const ids = [await callAsync(a, 'narrow', 'hold', { ms: 3_000 }), await callAsync(a, 'narrow', 'hold', { ms: 3_000 })];
    const runs = await Promise.all(ids.map((id) => pollRun(b.url, 'narrow', id, undefined, 20_000)));
    for (const run of runs) expect(run).toMatchObject({ status: 'success', result: 'held' });
    // A runs one at a time: the two overlapped only because B took the second from the queue.
    const [first, second] = runs.map((r) => ({
      start: Date.parse(r.createdAt) + (r.queueTimeMs ?? 0),
      end: Date.parse(r.completedAt ?? ''),
    }));
    expect(Math.max(first.start, second.start)).toBeLessThan(Math.min(first.end, second.end));
    const { rows } = await db.query<{ owner: string }>('SELECT DISTINCT owner FROM runs WHERE id = ANY($1)', [ids]);
    expect(rows).toHaveLength(2);
  }, 30_000);

  it("carry a queued run's injected faults to the server that runs it: latency= delays it, webhook=drop sends nothing, status= answers the call", async () => {
    const receiver = await startReceiver();
    try {
      const hook = `&webhookEndpoint=${encodeURIComponent(receiver.url)}`;
      const fault = { 'x-cerebrium-local-fault': 'latency=300ms;webhook=drop' };
      const queued = await post(a, `/v4/${PROJECT}/async/echo?async=true${hook}`, { faulty: true }, fault);
      expect(queued.status).toBe(202);
      const { run_id: id } = (await queued.json()) as { run_id: string };
      const run = await pollRun(b.url, 'async', id);
      expect(run).toMatchObject({ status: 'success', fault: 'latency=300ms;webhook=drop', result: { echo: { faulty: true } } });
      expect(Date.parse(run.completedAt ?? '') - Date.parse(run.createdAt)).toBeGreaterThanOrEqual(300);
      // A delivery would have begun as the run ended.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(receiver.received).toHaveLength(0);

      const refused = await post(a, `/v4/${PROJECT}/async/echo?async=true`, {}, { 'x-cerebrium-local-fault': 'status=503' });
      expect(refused.status).toBe(503);
    } finally {
      await receiver.close();
    }
  });

  it('send the webhook of a run cancelled while still in the shared queue once, from the server whose cancel took it', async () => {
    const receiver = await startReceiver();
    try {
      // Queued for an app no server serves, so it stays in the queue until cancelled.
      const id = `queued-${Date.now()}`;
      await db.query(
        `INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, created_at, params, webhook_endpoint,
           webhook_secret)
         VALUES ($1, $2, 'unserved', 'fn', TRUE, 'POST', 'pending', $3, '{}', $4, 'shh')`,
        [id, PROJECT, Date.now(), receiver.url],
      );
      const cancels = await Promise.all([a, b].map((server) => post(server, `${runsPath('unserved')}/${id}/cancel`)));
      expect(cancels.map((res) => res.status).sort()).toEqual([200, 409]);

      const [delivery] = await receiver.waitFor(1);
      expect(delivery.headers['x-request-id']).toBe(id);
      expect(delivery.headers['x-cerebrium-webhook-signature']).toBeTruthy();
      expect(JSON.parse(delivery.body)).toMatchObject({ run_id: id, error: { code: 'run_cancelled' } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.received).toHaveLength(1);
      const { rows } = await db.query<{ status: string; webhook_secret: string | null }>(
        'SELECT status, webhook_secret FROM runs WHERE id = $1',
        [id],
      );
      expect(rows[0]).toEqual({ status: 'cancelled', webhook_secret: null });
    } finally {
      await receiver.close();
    }
  });

  it('stop a run on the server executing it once another server holds it, and say so in its log', async () => {
    const call = post(a, `/v4/${PROJECT}/async/untilCancelled`, { fenced: true });
    const run = await until('the run to be stored as running', async () =>
      (await listRuns(b, 'async')).find((r) => r.functionName === 'untilCancelled' && r.status === 'running'),
    );
    // As when A paused past its lease and another server re-queued the run and took it.
    await db.query(`UPDATE runs SET owner = 'another-server' WHERE id = $1`, [run.id]);

    const answer = await call;
    expect(answer.status).toBe(500);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('run_cancelled');
    const warning = await until("the warning in A's log", async () =>
      a
        .output()
        .split('\n')
        .find((line) => line.includes('no longer held by this server')),
    );
    expect(warning).toContain(run.id);
    // A's end is not written over the new holder's run (which, unrenewed, another server fails later).
    expect((await getRun(b.url, 'async', run.id)).status).not.toBe('cancelled');
  });

  it('run 200 async runs sent to both servers each exactly once, send each webhook once, and account for every one', async () => {
    const receiver = await startReceiver();
    try {
      const hook = `&webhookEndpoint=${encodeURIComponent(receiver.url)}`;
      const ids: string[] = [];
      // 20 callers at a time, alternating servers.
      for (let batch = 0; batch < 10; batch++) {
        const sent = Array.from({ length: 20 }, (_, i) => callAsync(i % 2 === 0 ? a : b, 'async', 'echo', { i: batch * 20 + i }, hook));
        ids.push(...(await Promise.all(sent)));
      }
      expect(new Set(ids).size).toBe(200);

      await receiver.waitFor(200, 30_000);
      // Time for any second delivery to show up.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const delivered = receiver.received.map((r) => r.headers['x-request-id']);
      expect(delivered).toHaveLength(200);
      expect(new Set(delivered)).toEqual(new Set(ids));

      const { rows } = await db.query<{ status: string; count: string }>(
        'SELECT status, count(*) FROM runs WHERE id = ANY($1) GROUP BY status',
        [ids],
      );
      expect(rows).toEqual([{ status: 'success', count: '200' }]);
      const owners = await db.query<{ owner: string; count: string }>(
        'SELECT owner, count(*) FROM runs WHERE id = ANY($1) GROUP BY owner',
        [ids],
      );
      console.info(`200 async runs: ${owners.rows.map((r) => r.count).join(' + ')} by server`);
      const attempts = await db.query<{ count: string }>('SELECT count(*) FROM webhook_attempts WHERE run_id = ANY($1)', [ids]);
      expect(attempts.rows[0].count).toBe('200');
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('after kill -9 of a server, another marks the runs it held server_stopped, and its queued runs wait for a server of their app', async () => {
    // Only C (and later D) serves "solo", so its runs are known to be C's.
    const c = await join([SOLO_APP]);
    const running = await callAsync(c, 'solo', 'hold', { ms: 60_000 });
    await pollRun(a.url, 'solo', running, (r) => r.status === 'running');
    const waitingSync = post(c, `/v4/${PROJECT}/solo/hold`, { ms: 1 }).catch(() => undefined);
    const queued = await callAsync(c, 'solo', 'hold', { ms: 1 });
    const syncRun = await until('the sync run waiting on C', async () =>
      (await listRuns(a, 'solo')).find((r) => !r.async && r.status === 'pending'),
    );

    c.child.kill('SIGKILL');
    expect(await c.exited).toBe('SIGKILL');
    await waitingSync;

    for (const id of [running, syncRun.id]) {
      const run = await pollRun(a.url, 'solo', id, undefined, 10_000);
      expect(run).toMatchObject({ status: 'failure', statusCode: 500, error: { code: 'server_stopped' } });
    }
    // Never taken: it waits, unharmed, for a server that serves its app.
    expect((await getRun(b.url, 'solo', queued)).status).toBe('pending');
    const d = await join([SOLO_APP]);
    expect(await pollRun(b.url, 'solo', queued)).toMatchObject({ status: 'success', result: 'held' });
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  }, 40_000);

  it('without the database, serve sync calls, answer async calls 503 store_unavailable and say so in /ready, then recover', async () => {
    await (postgres as TestPostgres).stop();
    try {
      const sync = await post(a, `/v4/${PROJECT}/async/echo`, { still: 'served' });
      expect(sync.status).toBe(200);
      expect(await sync.json()).toMatchObject({ result: { echo: { still: 'served' } } });
      const syncId = sync.headers.get('x-request-id') ?? '';

      const refused = await post(a, `/v4/${PROJECT}/async/echo?async=true`, {});
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
      const ready = await fetch(`${a.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'store_unavailable', store: { location: expect.stringContaining('***') } });

      await (postgres as TestPostgres).start();
      await until('A to be ready again', async () => ((await fetch(`${a.url}/ready`)).status === 200 ? true : undefined), 15_000);
      // The sync run's record was kept while the database was away, and written once it came back.
      expect(await pollRun(b.url, 'async', syncId, undefined, 10_000)).toMatchObject({
        status: 'success',
        result: { echo: { still: 'served' } },
      });
      expect((await post(b, `/v4/${PROJECT}/async/echo?async=true`, {})).status).toBe(202);
    } finally {
      await (postgres as TestPostgres).start().catch(() => undefined);
    }
  }, 40_000);
});
