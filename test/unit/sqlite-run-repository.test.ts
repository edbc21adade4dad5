// SqliteRunRepository against a real runs.sqlite in a temporary folder: what is written, what is
// read back, group commits, recovery, pruning, and one server per data dir. No server, no replicas.

import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NewRun, RunChange, RunSummary, StoredRun } from '../../src/runs/run-repository.ts';
import { DataDirInUseError, RUN_STORE_FILE, SqliteRunRepository } from '../../src/runs/sqlite-run-repository.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dataDir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'cerebrium-local-runs-'));
});

afterEach(async () => {
  vi.useRealTimers();
  for (const step of cleanups.splice(0).reverse()) await step();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Opens the repository of `dir` (the test's data dir by default), closed after the test. */
function open(dir = dataDir): SqliteRunRepository {
  const repo = SqliteRunRepository.open({ dataDir: dir, log });
  cleanups.push(() => repo.close());
  return repo;
}

/**
 * What is on disk now, read through a copy of the files: the repository holds its database with
 * an exclusive lock, so no second connection can open the file itself.
 */
function rowsOnDisk(): Array<{ id: string; status: string }> {
  const copy = mkdtempSync(join(tmpdir(), 'cerebrium-local-runs-copy-'));
  try {
    for (const file of readdirSync(dataDir)) cpSync(join(dataDir, file), join(copy, file));
    const db = new Database(join(copy, RUN_STORE_FILE));
    try {
      return db.prepare<[], { id: string; status: string }>('SELECT id, status FROM runs ORDER BY seq').all();
    } finally {
      db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

let nextId = 0;
function newRun(overrides: Partial<NewRun> = {}): NewRun {
  nextId += 1;
  return {
    id: `run-${nextId}`,
    projectId: 'p-test',
    appName: 'basic',
    functionName: 'predict',
    async: false,
    method: 'POST',
    status: 'pending',
    createdAt: 1_700_000_000_000 + nextId,
    paramsJson: '{"x":1}',
    webhookEndpoint: null,
    ...overrides,
  };
}

function running(id: string, startedAt = 1_700_000_000_500): RunChange {
  return { id, status: 'running', startedAt, queueTimeMs: 12.5 };
}

function succeeded(id: string, completedAt = 1_700_000_001_000): RunChange {
  return {
    id,
    status: 'success',
    startedAt: 1_700_000_000_500,
    queueTimeMs: 12.5,
    end: { statusCode: 200, completedAt, runTimeMs: 480.25, resultJson: '{"y":2}', errorJson: null },
  };
}

function failed(id: string, completedAt: number): RunChange {
  return {
    id,
    status: 'failure',
    startedAt: completedAt - 10,
    queueTimeMs: 1,
    end: { statusCode: 500, completedAt, runTimeMs: 9, resultJson: null, errorJson: '{"message":"boom","code":"function_exception"}' },
  };
}

const page = (repo: SqliteRunRepository, query: Partial<Parameters<SqliteRunRepository['listPage']>[0]> = {}) =>
  repo.listPage({ projectId: 'p-test', appName: 'basic', asyncOnly: false, limit: 100, ...query });

const ids = (runs: RunSummary[]) => runs.map((r) => r.id);

describe('SqliteRunRepository records', () => {
  it('creates runs.sqlite in the data dir and names it as its location', () => {
    const repo = open();
    expect(repo.location).toBe(join(dataDir, RUN_STORE_FILE));
    expect(existsSync(join(dataDir, RUN_STORE_FILE))).toBe(true);
  });

  it('reads back every field of an inserted run, unfinished columns null', async () => {
    const repo = open();
    const run = newRun({ async: true, webhookEndpoint: 'http://127.0.0.1:9/hook', paramsJson: '{"prompt":"hi"}' });
    repo.insert(run);
    expect(await repo.get(run.id)).toEqual({
      seq: 1,
      id: run.id,
      projectId: 'p-test',
      appName: 'basic',
      functionName: 'predict',
      async: true,
      method: 'POST',
      status: 'pending',
      statusCode: null,
      createdAt: run.createdAt,
      startedAt: null,
      completedAt: null,
      runTimeMs: null,
      queueTimeMs: null,
      paramsJson: '{"prompt":"hi"}',
      resultJson: null,
      resultTruncated: false,
      errorJson: null,
      webhookEndpoint: 'http://127.0.0.1:9/hook',
      fault: null,
    } satisfies StoredRun);
  });

  it('answers undefined for a run it never stored', async () => {
    const repo = open();
    expect(await repo.get('no-such-run')).toBeUndefined();
  });

  it('moves a stored run to running and then to success with its end fields', async () => {
    const repo = open();
    const run = newRun();
    repo.insert(run);
    await repo.commit();

    repo.transition(running(run.id));
    expect(await repo.get(run.id)).toMatchObject({
      status: 'running',
      startedAt: 1_700_000_000_500,
      queueTimeMs: 12.5,
      completedAt: null,
      statusCode: null,
    });

    repo.transition(succeeded(run.id));
    expect(await repo.get(run.id)).toMatchObject({
      status: 'success',
      statusCode: 200,
      startedAt: 1_700_000_000_500,
      completedAt: 1_700_000_001_000,
      runTimeMs: 480.25,
      queueTimeMs: 12.5,
      resultJson: '{"y":2}',
      errorJson: null,
      paramsJson: '{"x":1}',
    });
  });

  it('stores a run inserted and finished before one commit as one row in its final state', async () => {
    const repo = open();
    const run = newRun();
    repo.insert(run);
    repo.transition(running(run.id));
    repo.transition(succeeded(run.id));
    await repo.commit();

    expect(rowsOnDisk()).toEqual([{ id: run.id, status: 'success' }]);
    expect(await repo.get(run.id)).toMatchObject({
      seq: 1,
      status: 'success',
      statusCode: 200,
      resultJson: '{"y":2}',
      startedAt: 1_700_000_000_500,
    });
    // No second row was written and deleted on the way: the next run takes the next seq.
    const after = newRun();
    repo.insert(after);
    expect((await repo.get(after.id))?.seq).toBe(2);
  });

  it('keeps the end fields when a run finished in an earlier commit is read back after more writes', async () => {
    const repo = open();
    const a = newRun();
    const b = newRun();
    repo.insert(a);
    repo.transition(failed(a.id, 5_000));
    await repo.commit();
    repo.insert(b);
    repo.transition(running(b.id));
    await repo.commit();
    expect(await repo.get(a.id)).toMatchObject({
      status: 'failure',
      statusCode: 500,
      completedAt: 5_000,
      errorJson: '{"message":"boom","code":"function_exception"}',
    });
    expect(await repo.get(b.id)).toMatchObject({ status: 'running', completedAt: null });
  });
});

describe('SqliteRunRepository commits', () => {
  it('writes what is waiting to the file on commit()', async () => {
    const repo = open();
    const run = newRun();
    repo.insert(run);
    expect(rowsOnDisk()).toEqual([]);
    await repo.commit();
    expect(rowsOnDisk()).toEqual([{ id: run.id, status: 'pending' }]);
  });

  it('commits gathered writes by itself a few milliseconds later', () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const repo = open();
    const run = newRun();
    repo.insert(run);
    expect(rowsOnDisk()).toEqual([]);
    // On a fake clock: the group commit's gathering is a few milliseconds, well under 50.
    vi.advanceTimersByTime(50);
    expect(rowsOnDisk()).toEqual([{ id: run.id, status: 'pending' }]);
  });

  it('lets a read see writes accepted but not yet committed', async () => {
    const repo = open();
    const run = newRun();
    repo.insert(run);
    repo.transition(running(run.id));
    expect((await repo.get(run.id))?.status).toBe('running');
  });
});

describe('SqliteRunRepository pages', () => {
  it('lists an app’s runs newest first, a page at a time with the before cursor', async () => {
    const repo = open();
    const runs = [newRun(), newRun(), newRun(), newRun(), newRun()];
    for (const run of runs) repo.insert(run);

    const first = await page(repo, { limit: 2 });
    expect(ids(first)).toEqual([runs[4].id, runs[3].id]);
    const second = await page(repo, { limit: 2, before: first[1].seq });
    expect(ids(second)).toEqual([runs[2].id, runs[1].id]);
    const third = await page(repo, { limit: 2, before: second[1].seq });
    expect(ids(third)).toEqual([runs[0].id]);
    expect(await page(repo, { limit: 2, before: third[0].seq })).toEqual([]);
  });

  it('lists only async runs when asked', async () => {
    const repo = open();
    const sync1 = newRun();
    const async1 = newRun({ async: true });
    const sync2 = newRun();
    const async2 = newRun({ async: true });
    for (const run of [sync1, async1, sync2, async2]) repo.insert(run);

    const asyncPage = await page(repo, { asyncOnly: true });
    expect(ids(asyncPage)).toEqual([async2.id, async1.id]);
    expect(ids(await page(repo, { asyncOnly: false }))).toEqual([async2.id, sync2.id, async1.id, sync1.id]);
    // The cursor pages through async runs only, skipping the sync run between them.
    expect(ids(await page(repo, { asyncOnly: true, limit: 1, before: asyncPage[0].seq }))).toEqual([async1.id]);
  });

  it('lists only the runs of the project and app asked for', async () => {
    const repo = open();
    const mine = newRun();
    const otherApp = newRun({ appName: 'other' });
    const otherProject = newRun({ projectId: 'p-other' });
    for (const run of [mine, otherApp, otherProject]) repo.insert(run);

    expect(ids(await page(repo))).toEqual([mine.id]);
    expect(ids(await page(repo, { appName: 'other' }))).toEqual([otherApp.id]);
    expect(ids(await page(repo, { projectId: 'p-other' }))).toEqual([otherProject.id]);
    expect(await page(repo, { projectId: 'p-other', appName: 'other' })).toEqual([]);
  });
});

describe('SqliteRunRepository webhook attempts', () => {
  it('reads back a run’s attempts in attempt order with every field', async () => {
    const repo = open();
    const run = newRun({ webhookEndpoint: 'http://127.0.0.1:9/hook' });
    repo.insert(run);
    repo.recordWebhookAttempt(run.id, { attempt: 1, at: 1000, durationMs: 5.5, statusCode: null, error: 'ECONNREFUSED: connect' });
    await repo.commit();
    repo.recordWebhookAttempt(run.id, { attempt: 3, at: 3000, durationMs: 2, statusCode: 200, error: null });
    repo.recordWebhookAttempt(run.id, { attempt: 2, at: 2000, durationMs: 7.25, statusCode: 404, error: null });

    expect(await repo.webhookAttempts(run.id)).toEqual([
      { attempt: 1, at: 1000, durationMs: 5.5, statusCode: null, error: 'ECONNREFUSED: connect' },
      { attempt: 2, at: 2000, durationMs: 7.25, statusCode: 404, error: null },
      { attempt: 3, at: 3000, durationMs: 2, statusCode: 200, error: null },
    ]);
  });

  it('keeps each run’s attempts apart', async () => {
    const repo = open();
    const a = newRun();
    const b = newRun();
    repo.insert(a);
    repo.insert(b);
    repo.recordWebhookAttempt(a.id, { attempt: 1, at: 1, durationMs: 1, statusCode: 200, error: null });
    expect(await repo.webhookAttempts(a.id)).toHaveLength(1);
    expect(await repo.webhookAttempts(b.id)).toEqual([]);
  });
});

describe('SqliteRunRepository recovery after a server stopped', () => {
  it('marks pending and running runs as failed with the given status and error, and leaves finished ones', async () => {
    const repo = open();
    const pending = newRun();
    const started = newRun();
    const done = newRun();
    const broken = newRun();
    for (const run of [pending, started, done, broken]) repo.insert(run);
    repo.transition(running(started.id));
    repo.transition(succeeded(done.id, 2_000));
    repo.transition(failed(broken.id, 3_000));

    const error = { message: 'The server stopped before the run finished', type: 'server_error', code: 'server_stopped' };
    const before = Date.now();
    expect(await repo.recoverInterrupted(500, error)).toBe(2);

    for (const id of [pending.id, started.id]) {
      const stored = await repo.get(id);
      expect(stored).toMatchObject({ status: 'failure', statusCode: 500, resultJson: null });
      expect(JSON.parse(stored!.errorJson!)).toEqual(error);
      expect(stored!.completedAt).toBeGreaterThanOrEqual(before);
    }
    expect(await repo.get(pending.id)).toMatchObject({ startedAt: null });
    expect(await repo.get(started.id)).toMatchObject({ startedAt: 1_700_000_000_500 });
    expect(await repo.get(done.id)).toMatchObject({ status: 'success', statusCode: 200, completedAt: 2_000, errorJson: null });
    expect(await repo.get(broken.id)).toMatchObject({
      status: 'failure',
      completedAt: 3_000,
      errorJson: '{"message":"boom","code":"function_exception"}',
    });

    expect(await repo.recoverInterrupted(500, error)).toBe(0);
  });
});

describe('SqliteRunRepository pruning', () => {
  it('deletes runs completed before the cutoff with their webhook attempts, and keeps the rest', async () => {
    const repo = open();
    const old1 = newRun();
    const old2 = newRun();
    const atCutoff = newRun();
    const recent = newRun();
    const pending = newRun();
    const started = newRun();
    for (const run of [old1, old2, atCutoff, recent, pending, started]) repo.insert(run);
    repo.transition(succeeded(old1.id, 1_000));
    repo.transition(failed(old2.id, 1_500));
    repo.transition(succeeded(atCutoff.id, 2_000));
    repo.transition(succeeded(recent.id, 3_000));
    repo.transition(running(started.id));
    repo.recordWebhookAttempt(old1.id, { attempt: 1, at: 1_000, durationMs: 1, statusCode: 200, error: null });
    repo.recordWebhookAttempt(recent.id, { attempt: 1, at: 3_000, durationMs: 1, statusCode: 200, error: null });

    expect(await repo.prune(2_000)).toBe(2);

    expect(await repo.get(old1.id)).toBeUndefined();
    expect(await repo.get(old2.id)).toBeUndefined();
    expect(await repo.webhookAttempts(old1.id)).toEqual([]);
    expect(ids(await page(repo))).toEqual([started.id, pending.id, recent.id, atCutoff.id]);
    expect(await repo.webhookAttempts(recent.id)).toHaveLength(1);
  });

  it('never deletes pending or running runs, however late the cutoff', async () => {
    const repo = open();
    const pending = newRun();
    const started = newRun();
    repo.insert(pending);
    repo.insert(started);
    repo.transition(running(started.id));
    expect(await repo.prune(Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(ids(await page(repo))).toEqual([started.id, pending.id]);
  });
});

describe('SqliteRunRepository data dir', () => {
  it('keeps runs and attempts across close and reopen of the same data dir', async () => {
    const first = SqliteRunRepository.open({ dataDir, log });
    const run = newRun({ async: true, webhookEndpoint: 'http://127.0.0.1:9/hook' });
    first.insert(run);
    first.transition(succeeded(run.id));
    first.recordWebhookAttempt(run.id, { attempt: 1, at: 10, durationMs: 3, statusCode: 200, error: null });
    // No commit: close writes what is waiting.
    await first.close();

    const second = open();
    expect(await second.get(run.id)).toMatchObject({ seq: 1, status: 'success', async: true, resultJson: '{"y":2}' });
    expect(await second.webhookAttempts(run.id)).toEqual([{ attempt: 1, at: 10, durationMs: 3, statusCode: 200, error: null }]);
    const next = newRun();
    second.insert(next);
    expect((await second.get(next.id))?.seq).toBe(2);
  });

  it('refuses a second open of a data dir in use with DataDirInUseError, and allows it once the first is closed', async () => {
    const first = SqliteRunRepository.open({ dataDir, log });
    expect(() => SqliteRunRepository.open({ dataDir, log })).toThrow(DataDirInUseError);
    // The refused open did not disturb the first one.
    const run = newRun();
    first.insert(run);
    expect((await first.get(run.id))?.status).toBe('pending');
    await first.close();

    const again = open();
    expect((await again.get(run.id))?.status).toBe('pending');
  });

  it('keeps runs in memory when opened without a data dir', async () => {
    const repo = SqliteRunRepository.open({ log });
    cleanups.push(() => repo.close());
    expect(repo.location).toBe(':memory:');
    const run = newRun();
    repo.insert(run);
    expect((await repo.get(run.id))?.id).toBe(run.id);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});

/**
 * Makes the store's file unable to grow, as a full disk does: SQLite then answers a write that
 * needs a new page with SQLITE_FULL, "database or disk is full". (max_page_count is a setting of
 * one connection, and the repository holds the file exclusively, so it is set through it.)
 */
const fillDisk = (repo: SqliteRunRepository) => repo.setMaxPageCount(1);
const freeDisk = (repo: SqliteRunRepository) => repo.setMaxPageCount(1_000_000);
/** A run whose record needs pages of its own (20 kB of params): it cannot fit in a full store. */
const bigRun = (overrides: Partial<NewRun> = {}) => newRun({ paramsJson: JSON.stringify({ blob: 'x'.repeat(20_000) }), ...overrides });
/** A success whose result needs pages of its own. */
function bigSuccess(id: string): RunChange {
  const change = succeeded(id);
  return { ...change, end: { ...change.end!, resultJson: JSON.stringify({ blob: 'y'.repeat(20_000) }) } };
}

describe('SqliteRunRepository when the disk is full', () => {
  it('rejects commit() with store_unavailable naming the store, and says it cannot write', async () => {
    const repo = open();
    expect(repo.writable).toBe(true);
    fillDisk(repo);
    repo.insert(bigRun());
    await expect(repo.commit()).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining(RUN_STORE_FILE) });
    expect(repo.writable).toBe(false);
    expect(repo.lastWriteError).toMatch(/database or disk is full/);
  });

  it('keeps the writes that failed and stores them all once the disk frees', async () => {
    const repo = open();
    const stored = newRun({ async: true });
    repo.insert(stored);
    await repo.commit();
    fillDisk(repo);
    const big = bigRun();
    repo.insert(big);
    repo.transition(bigSuccess(stored.id));
    await expect(repo.commit()).rejects.toThrow(/cannot write/);
    await expect(repo.commit()).rejects.toThrow(/cannot write/);

    freeDisk(repo);
    await repo.commit();
    expect(repo.writable).toBe(true);
    expect(repo.lastWriteError).toBeUndefined();
    expect(rowsOnDisk()).toEqual([
      { id: stored.id, status: 'success' },
      { id: big.id, status: 'pending' },
    ]);
  });

  it('retries the kept writes by itself once the disk frees', async () => {
    const repo = open();
    const big = bigRun();
    fillDisk(repo);
    repo.insert(big);
    await expect(repo.commit()).rejects.toThrow();
    freeDisk(repo);
    await expect.poll(() => repo.writable, { timeout: 3_000 }).toBe(true);
    expect(rowsOnDisk()).toEqual([{ id: big.id, status: 'pending' }]);
  });

  it('stores a run that succeeded while the disk was full as a success, which a restart leaves alone', async () => {
    const first = SqliteRunRepository.open({ dataDir, log });
    const run = newRun({ async: true });
    first.insert(run);
    await first.commit();
    first.transition(running(run.id));
    await first.commit();
    fillDisk(first);
    first.transition(bigSuccess(run.id));
    await expect(first.commit()).rejects.toThrow();
    freeDisk(first);
    await first.close();

    const second = open();
    expect(await second.recoverInterrupted(500, { code: 'server_stopped' })).toBe(0);
    expect(await second.get(run.id)).toMatchObject({ status: 'success', statusCode: 200 });
  });

  it('drops the oldest new records past its cap, and keeps the changes to runs already stored', async () => {
    const repo = SqliteRunRepository.open({ dataDir, log, maxKeptRuns: 2 });
    cleanups.push(() => repo.close());
    const stored = newRun();
    repo.insert(stored);
    await repo.commit();
    fillDisk(repo);
    repo.transition(bigSuccess(stored.id));
    const [a, b, c] = [bigRun(), bigRun(), bigRun()];
    for (const run of [a, b, c]) repo.insert(run);
    await expect(repo.commit()).rejects.toThrow();

    freeDisk(repo);
    await repo.commit();
    expect(rowsOnDisk()).toEqual([
      { id: stored.id, status: 'success' },
      { id: c.id, status: 'pending' },
    ]);
  });

  it('forgets the writes of a run it is told to discard, and with nothing waiting still learns when the disk frees', async () => {
    const repo = open();
    fillDisk(repo);
    const refused = bigRun();
    repo.insert(refused);
    await expect(repo.commit()).rejects.toThrow();
    repo.discard(refused.id);
    // Nothing waits: a commit has nothing to write, but the store is still known not to write.
    await repo.commit();
    await sleep(1_200);
    expect(repo.writable).toBe(false);

    freeDisk(repo);
    await expect.poll(() => repo.writable, { timeout: 3_000 }).toBe(true);
    expect(rowsOnDisk()).toEqual([]);
  });
});

describe('SqliteRunRepository files', () => {
  it('creates the data dir 0700 and the database files 0600', async () => {
    const dir = join(dataDir, 'fresh', 'store');
    const repo = open(dir);
    repo.insert(newRun());
    await repo.commit();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toContain(RUN_STORE_FILE);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
  });

  it('makes the database file of an existing store 0600', async () => {
    const file = join(dataDir, RUN_STORE_FILE);
    new Database(file).close();
    const { chmodSync } = await import('node:fs');
    chmodSync(file, 0o644);
    open();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('opens a store made before results could be truncated, and reads its runs as not truncated', async () => {
    const db = new Database(join(dataDir, RUN_STORE_FILE));
    db.exec(`CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, project_id TEXT NOT NULL,
      app_name TEXT NOT NULL, function_name TEXT NOT NULL, async INTEGER NOT NULL, method TEXT NOT NULL, status TEXT NOT NULL,
      status_code INTEGER, created_at INTEGER NOT NULL, started_at INTEGER, completed_at INTEGER, run_time_ms REAL,
      queue_time_ms REAL, params TEXT NOT NULL, result TEXT, error TEXT, webhook_endpoint TEXT)`);
    db.exec(`INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, created_at, params, result)
      VALUES ('old-run', 'p-test', 'basic', 'predict', 0, 'POST', 'success', 1, '{}', '{"y":1}')`);
    db.close();
    const repo = open();
    expect(await repo.get('old-run')).toMatchObject({ resultJson: '{"y":1}', resultTruncated: false });
    const run = newRun();
    repo.insert(run);
    repo.transition({ ...succeeded(run.id), end: { ...succeeded(run.id).end!, resultTruncated: true } });
    expect(await repo.get(run.id)).toMatchObject({ resultTruncated: true });
  });
});

describe('SqliteRunRepository list pages and retention', () => {
  it('lists runs without their params and results', async () => {
    const repo = open();
    const run = newRun();
    repo.insert(run);
    repo.transition(succeeded(run.id));
    const [item] = await page(repo);
    expect(item).toMatchObject({ id: run.id, status: 'success', resultTruncated: false });
    expect(item).not.toHaveProperty('resultJson');
    expect(item).not.toHaveProperty('paramsJson');
  });

  it('keeps each app’s newest runs and deletes its older finished ones, never an unfinished one', async () => {
    const repo = open();
    const [r1, r2, r3, r4, r5] = [newRun(), newRun(), newRun(), newRun(), newRun()];
    const other = newRun({ appName: 'other' });
    for (const run of [r1, r2, r3, r4, r5, other]) repo.insert(run);
    for (const run of [r1, r3, r4, r5, other]) repo.transition(succeeded(run.id));
    repo.transition(running(r2.id));
    repo.recordWebhookAttempt(r1.id, { attempt: 1, at: 1, durationMs: 1, statusCode: 200, error: null });

    expect(await repo.pruneExcess(2)).toBe(2);
    expect(ids(await page(repo))).toEqual([r5.id, r4.id, r2.id]);
    expect(ids(await page(repo, { appName: 'other' }))).toEqual([other.id]);
    expect(await repo.webhookAttempts(r1.id)).toEqual([]);
  });

  it('prunes many runs a batch at a time, letting the event loop turn between batches', async () => {
    const repo = open();
    for (let i = 0; i < 1_200; i += 1) {
      const run = newRun();
      repo.insert(run);
      repo.transition(succeeded(run.id, 1_000));
    }
    await repo.commit();
    const order: string[] = [];
    setImmediate(() => order.push('another task'));
    const deleted = await repo.prune(2_000);
    order.push('pruned');
    expect(deleted).toBe(1_200);
    expect(order).toEqual(['another task', 'pruned']);
    expect(await page(repo)).toEqual([]);
  });
});
