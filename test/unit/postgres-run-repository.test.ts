// The Postgres run repository and its migrations, against a real Postgres started here. A lost
// database is a real cut: the repository reaches Postgres through a TCP relay the test closes.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/runs/postgres-migrations.ts';
import { PostgresRunRepository } from '../../src/runs/postgres-run-repository.ts';
import type { NewRun } from '../../src/runs/run-repository.ts';
import { startTestPostgres, type TestPostgres } from '../postgres-support.ts';

const log = pino({ level: 'silent' });
// Started while the file is collected, so a machine where Postgres cannot start skips with the reason.
const started = await startTestPostgres();
const skipReason = typeof started === 'string' ? started : '';
if (skipReason) console.warn(`skipping the Postgres run repository tests: ${skipReason}`);
const postgres: TestPostgres | undefined = typeof started === 'string' ? undefined : started;
let databaseUrl = '';
const pools: pg.Pool[] = [];

beforeAll(async () => {
  if (!postgres) return;
  databaseUrl = await postgres.database('repository');
  await migrate(pool());
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await postgres?.remove();
});

function pool(url = databaseUrl): pg.Pool {
  const made = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 1000 });
  made.on('error', () => undefined);
  pools.push(made);
  return made;
}

function repository(serverId: string, leaseMs = 60_000, url = databaseUrl): PostgresRunRepository {
  return new PostgresRunRepository({ pool: pool(url), location: 'test', serverId, leaseMs, log });
}

let n = 0;
function newRun(overrides: Partial<NewRun> = {}): NewRun {
  n += 1;
  return {
    id: `run-${Date.now()}-${n}`,
    projectId: 'p-test',
    appName: 'app',
    functionName: 'fn',
    async: false,
    method: 'POST',
    status: 'pending',
    createdAt: Date.now(),
    paramsJson: `{"n":${n}}`,
    webhookEndpoint: null,
    ...overrides,
  };
}

const ended = (id: string, resultJson = '"ok"') => ({
  id,
  status: 'success' as const,
  startedAt: Date.now(),
  queueTimeMs: 1,
  end: { statusCode: 200, completedAt: Date.now(), runTimeMs: 2, resultJson, errorJson: null },
});

/** A TCP relay to Postgres whose connections the test can cut, and let through again. */
async function relay(target: number): Promise<{ url: string; cut(): void; mend(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = createConnectionTo(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: databaseUrl.replace(/:\d+\//, `:${port}/`),
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    mend() {
      open = true;
    },
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

function createConnectionTo(port: number): Socket {
  return createConnection({ host: '127.0.0.1', port });
}

describe.skipIf(skipReason !== '')('the Postgres run repository', () => {
  it('applies its migrations once when several servers start at the same moment', async () => {
    const url = await (postgres as TestPostgres).database('migrations_race');
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(pool(url))));
    const all = MIGRATIONS.map((m) => m.version);
    expect(results.filter((applied) => applied.length > 0)).toEqual([all]);
    expect(results.filter((applied) => applied.length === 0)).toHaveLength(3);
    const { rows } = await pool(url).query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(all);
  });

  it('stores a run, its end, its webhook attempts and logs, and reads them back from another server', async () => {
    const a = repository('server-a');
    const b = repository('server-b');
    const run = newRun({ webhookEndpoint: 'http://127.0.0.1:1/hook' });
    a.insert(run);
    a.transition({ id: run.id, status: 'running', startedAt: Date.now(), queueTimeMs: 3 });
    await a.commit();
    expect(await b.get(run.id)).toMatchObject({ id: run.id, status: 'running', paramsJson: run.paramsJson, queueTimeMs: 3 });

    a.transition(ended(run.id, '{"answer":42}'));
    a.recordWebhookAttempt(run.id, { attempt: 1, at: Date.now(), durationMs: 5, statusCode: 200, error: null });
    a.appendLogs(run.id, [{ seq: 0, at: Date.now(), stream: 'stdout', level: 'info', line: 'hello' }], 0);
    await a.commit();
    expect(await b.get(run.id)).toMatchObject({ status: 'success', statusCode: 200, resultJson: '{"answer":42}', runTimeMs: 2 });
    expect(await b.webhookAttempts(run.id)).toMatchObject([{ attempt: 1, statusCode: 200 }]);
    expect(await b.logs(run.id)).toMatchObject([{ seq: 0, line: 'hello', stream: 'stdout' }]);
    const page = await b.listPage({ projectId: 'p-test', appName: 'app', asyncOnly: false, limit: 100 });
    expect(page[0]).toMatchObject({ id: run.id, status: 'success' });
    expect(page[0]).not.toHaveProperty('resultJson');
    // The runs API's status and functionName filters.
    const query = { projectId: 'p-test', appName: 'app', asyncOnly: false, limit: 100 };
    expect((await b.listPage({ ...query, status: 'success', functionName: run.functionName })).map((r) => r.id)).toContain(run.id);
    expect((await b.listPage({ ...query, status: 'failure' })).map((r) => r.id)).not.toContain(run.id);
    expect((await b.listPage({ ...query, functionName: 'another' })).map((r) => r.id)).not.toContain(run.id);
  });

  it('lets the first end of a run count: a later change, or one from a server that no longer holds it, changes nothing', async () => {
    const a = repository('server-a2');
    const b = repository('server-b2');
    const run = newRun();
    a.insert(run);
    await a.commit();
    // Another server cannot write over a run it does not hold.
    b.transition(ended(run.id, '"from b"'));
    await b.commit();
    expect((await a.get(run.id))?.status).toBe('pending');
    a.transition(ended(run.id, '"first"'));
    await a.commit();
    a.transition({ ...ended(run.id, '"second"'), status: 'failure' });
    await a.commit();
    expect(await a.get(run.id)).toMatchObject({ status: 'success', resultJson: '"first"' });
  });

  it('marks runs whose lease ran out as server_stopped failures, and queues again async runs taken but never started', async () => {
    const gone = repository('server-gone', 50);
    const survivor = repository('server-survivor');
    const running = newRun();
    gone.insert(running);
    gone.transition({ id: running.id, status: 'running', startedAt: Date.now(), queueTimeMs: 1 });
    await gone.commit();
    // An async run the gone server had taken from the queue (owner set) but not begun.
    const taken = newRun({ async: true });
    const db = pool();
    await db.query(
      `INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, created_at, params, owner, lease_until)
       VALUES ($1, 'p-test', 'app', 'fn', TRUE, 'POST', 'pending', $2, '{}', 'server-gone', $3)`,
      [taken.id, Date.now(), Date.now() + 50],
    );
    const held = newRun();
    survivor.insert(held);
    await survivor.commit();

    await new Promise((resolve) => setTimeout(resolve, 120));
    const failed = await survivor.recoverInterrupted(500, { code: 'server_stopped', message: 'gone' });
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(await survivor.get(running.id)).toMatchObject({ status: 'failure', statusCode: 500 });
    expect(JSON.parse((await survivor.get(running.id))?.errorJson ?? '{}')).toMatchObject({ code: 'server_stopped' });
    const requeued = await db.query<{ owner: string | null; status: string }>('SELECT owner, status FROM runs WHERE id = $1', [taken.id]);
    expect(requeued.rows[0]).toEqual({ owner: null, status: 'pending' });
    // A run whose server's lease has not run out is left alone.
    expect((await survivor.get(held.id))?.status).toBe('pending');
  });

  it('tells, as it renews its leases, which runs it executes are stored but held by it no longer, and none not stored yet', async () => {
    const slow = repository('server-slow', 50);
    const [requeued, endedElsewhere, kept] = [newRun({ async: true }), newRun(), newRun()];
    for (const run of [requeued, endedElsewhere, kept]) slow.insert(run);
    await slow.commit();
    // Its leases ran out: another server queued one again and marked another failed.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await repository('server-other').requeueExpired()).toBeGreaterThanOrEqual(1);
    await pool().query(`UPDATE runs SET status = 'failure', lease_until = NULL WHERE id = $1`, [endedElsewhere.id]);
    await pool().query(`UPDATE runs SET lease_until = $2 WHERE id = $1`, [kept.id, Date.now() + 60_000]);

    const notStoredYet = newRun().id;
    const lost = await slow.renewLeases([requeued.id, endedElsewhere.id, kept.id, notStoredYet]);
    expect(lost.sort()).toEqual([requeued.id, endedElsewhere.id].sort());
  });

  it('keeps writes while the database cannot be reached, refuses commits with store_unavailable, and writes them once it can', async () => {
    const cutOff = await relay(Number(new URL(databaseUrl).port));
    try {
      const store = repository('server-cut', 60_000, cutOff.url);
      const before = newRun();
      store.insert(before);
      await store.commit();

      cutOff.cut();
      const during = newRun();
      store.insert(during);
      store.transition(ended(during.id));
      await expect(store.commit()).rejects.toMatchObject({ code: 'store_unavailable', statusCode: 503 });
      expect(store.writable).toBe(false);
      expect(store.lastWriteError).toBeTruthy();

      cutOff.mend();
      const deadline = Date.now() + 10_000;
      while (!store.writable && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(store.writable).toBe(true);
      expect(await repository('server-reader').get(during.id)).toMatchObject({ status: 'success', resultJson: '"ok"' });
    } finally {
      cutOff.close();
    }
  }, 20_000);
});
