// The shared run repository: Postgres (through pg), for several servers as one deployment. Writes
// are gathered for a few ms and sent as one statement per kind (JSON arrays through
// json_to_recordset), a run's rows merged first, as the SQLite store does; `commit` sends what waits
// at once. Every run written here is owned by this server (`owner`) under a lease the deployment
// renews. While the database cannot be reached, writes are kept (up to a cap) and retried every
// second, so sync calls go on; async calls are refused by `commit` (503 store_unavailable).

import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { CerebriumLocalError } from '../errors.ts';
import { KeptWrites, type PendingRunWrite } from './kept-writes.ts';
import { CHANGE_RECORD, changeRecord, INSERT_COLUMNS, INSERT_RECORD } from './postgres-rows.ts';
import type {
  NewRun,
  RunChange,
  RunPageQuery,
  RunRepository,
  RunSummary,
  StoredLogLine,
  StoredRun,
  WebhookAttempt,
} from './run-repository.ts';
import { fromRow, insertRecord, type RunColumns, type RunRow, SUMMARY_COLUMNS, type SummaryRow, summaryFromRow } from './run-rows.ts';

export interface PostgresRunRepositoryOptions {
  /** The repository ends it at close. */
  pool: Pool;
  /** The database URL without its password, for log lines and /ready. */
  location: string;
  /** This server's id in the deployment: the owner of the runs it writes. */
  serverId: string;
  /** How long a run written here is held before another server may take it as abandoned. */
  leaseMs: number;
  log: Logger;
  /** How many runs' writes are kept for retry while the database cannot be reached (default 10000). */
  maxKeptRuns?: number;
}

/** Gathering window of a batch: as the SQLite store's group commit. */
const GROUP_COMMIT_MS = 10;
const RETRY_MS = 1000;
const PRUNE_BATCH = 500;

/**
 * A fault of the database or the way to it (refused connection, shutdown, disk full), not of a
 * row: data (22), integrity (23) and syntax or access (42) errors are the row's; every other
 * failure keeps the writes for retry.
 */
export function isStoreFault(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return !(typeof code === 'string' && /^(22|23|42)/.test(code));
}

interface AttemptWrite extends WebhookAttempt {
  runId: string;
}

interface LogWrite {
  runId: string;
  lines: StoredLogLine[];
  keepFrom: number;
}

export class PostgresRunRepository implements RunRepository {
  readonly location: string;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly serverId: string;
  private readonly leaseMs: number;
  /** Runs' writes waiting for the next batch, and those kept for retry while the database cannot be reached. */
  private readonly kept: KeptWrites;
  private pendingAttempts: AttemptWrite[] = [];
  private pendingLogs: LogWrite[] = [];
  /** The batch being written: batches go one at a time, so a run's row lands before its attempts. */
  private writing: Promise<Error | undefined> = Promise.resolve(undefined);
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: PostgresRunRepositoryOptions) {
    this.pool = options.pool;
    this.location = options.location;
    this.log = options.log;
    this.serverId = options.serverId;
    this.leaseMs = options.leaseMs;
    this.kept = new KeptWrites({
      log: options.log,
      store: options.location,
      maxKeptRuns: options.maxKeptRuns,
      failureMessage: 'the run store (Postgres) cannot be reached; its writes are kept and retried every second',
      retry: () => this.scheduleFlush(),
      others: () => [this.pendingAttempts, this.pendingLogs],
    });
  }

  get writable(): boolean {
    return this.kept.writable;
  }

  get lastWriteError(): string | undefined {
    return this.kept.lastWriteError;
  }

  insert(run: NewRun): void {
    this.kept.insert(run);
    this.scheduleFlush();
  }

  discard(runId: string): void {
    this.kept.runs.delete(runId);
  }

  transition(change: RunChange): void {
    this.kept.change(change);
    this.scheduleFlush();
  }

  recordWebhookAttempt(runId: string, attempt: WebhookAttempt): void {
    this.pendingAttempts.push({ runId, ...attempt });
    this.scheduleFlush();
  }

  appendLogs(runId: string, lines: StoredLogLine[], keepFrom: number): void {
    this.pendingLogs.push({ runId, lines, keepFrom });
    this.scheduleFlush();
  }

  async commit(): Promise<void> {
    const err = await this.flush();
    if (err) throw storeUnavailable(this.location, err);
  }

  async get(id: string): Promise<StoredRun | undefined> {
    await this.flushIfWritable();
    const { rows } = await this.read(() =>
      this.pool.query<RunRow>(`SELECT ${SUMMARY_COLUMNS}, params, result FROM runs WHERE id = $1`, [id]),
    );
    return rows[0] && fromRow(rows[0]);
  }

  async listPage(query: RunPageQuery): Promise<RunSummary[]> {
    await this.flushIfWritable();
    const values: unknown[] = [query.projectId, query.appName, query.before ?? Number.MAX_SAFE_INTEGER, query.limit];
    const conditions = ['project_id = $1', 'app_name = $2', 'seq < $3'];
    if (query.asyncOnly) conditions.push('async');
    if (query.status !== undefined) conditions.push(`status = $${values.push(query.status)}`);
    if (query.functionName !== undefined) conditions.push(`function_name = $${values.push(query.functionName)}`);
    const { rows } = await this.read(() =>
      this.pool.query<SummaryRow>(
        `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE ${conditions.join(' AND ')} ORDER BY seq DESC LIMIT $4`,
        values,
      ),
    );
    return rows.map(summaryFromRow);
  }

  async webhookAttempts(runId: string): Promise<WebhookAttempt[]> {
    await this.flushIfWritable();
    const { rows } = await this.read(() =>
      this.pool.query<{ attempt: number; attempted_at: string; duration_ms: number; status_code: number | null; error: string | null }>(
        `SELECT attempt, attempted_at, duration_ms, status_code, error FROM webhook_attempts WHERE run_id = $1 ORDER BY attempt`,
        [runId],
      ),
    );
    return rows.map((row) => ({
      attempt: row.attempt,
      at: Number(row.attempted_at),
      durationMs: row.duration_ms,
      statusCode: row.status_code,
      error: row.error,
    }));
  }

  async logs(runId: string): Promise<StoredLogLine[]> {
    await this.flushIfWritable();
    const { rows } = await this.read(() =>
      this.pool.query<{ seq: number; at: string; stream: StoredLogLine['stream']; level: string; line: string; cut: boolean }>(
        `SELECT seq, at, stream, level, line, cut FROM run_logs WHERE run_id = $1 ORDER BY seq`,
        [runId],
      ),
    );
    return rows.map((row) => ({
      seq: row.seq,
      at: Number(row.at),
      stream: row.stream,
      level: row.level,
      line: row.line,
      ...(row.cut ? { cut: true } : {}),
    }));
  }

  /**
   * Runs whose server stopped holding them (its lease ran out: it was killed, or lost the
   * database for longer than a lease): async runs it had taken but not begun go back to the
   * queue; every other one becomes a failure with `statusCode` and `error`. Returns how many failed.
   */
  async recoverInterrupted(statusCode: number, error: Record<string, unknown>): Promise<number> {
    const requeued = await this.requeueExpired();
    if (requeued > 0) this.log.warn({ runs: requeued }, 'async runs taken by a server that stopped before starting them are queued again');
    const now = Date.now();
    const { rowCount } = await this.guarded(() =>
      this.pool.query(
        `UPDATE runs SET status = 'failure', status_code = $1, completed_at = $2, error = $3, lease_until = NULL,
           webhook_secret = NULL, webhook_authorization = NULL
         WHERE status IN ('pending', 'running') AND lease_until < $2`,
        [statusCode, now, JSON.stringify(error)],
      ),
    );
    return rowCount ?? 0;
  }

  /** Async runs taken by a server whose lease ran out before they began: queued again. Returns how many. */
  async requeueExpired(): Promise<number> {
    const { rowCount } = await this.guarded(() =>
      this.pool.query(
        `UPDATE runs SET owner = NULL, lease_until = NULL
         WHERE status = 'pending' AND async AND owner IS NOT NULL AND lease_until < $1`,
        [Date.now()],
      ),
    );
    return rowCount ?? 0;
  }

  /**
   * Extends this server's hold on every unfinished run it owns. Returns those of `liveIds` (the
   * runs this server is executing) that the renewal did not cover although their row is stored:
   * another server re-queued or ended them (this server's lease ran out). A run whose row is not
   * stored yet (its insert still gathering, or kept while the database was away) is not among them.
   */
  async renewLeases(liveIds: readonly string[] = []): Promise<string[]> {
    const { rows } = await this.guarded(() =>
      this.pool.query<{ id: string }>(
        `WITH renewed AS (
           UPDATE runs SET lease_until = $1 WHERE owner = $2 AND status IN ('pending', 'running') RETURNING id)
         SELECT runs.id FROM runs WHERE runs.id = ANY($3::text[]) AND runs.id NOT IN (SELECT id FROM renewed)`,
        [Date.now() + this.leaseMs, this.serverId, liveIds],
      ),
    );
    return rows.map((row) => row.id);
  }

  async prune(completedBefore: number): Promise<number> {
    return this.deleteInBatches(`SELECT seq FROM runs WHERE completed_at < $1 ORDER BY seq LIMIT ${PRUNE_BATCH}`, [completedBefore]);
  }

  async pruneExcess(keepPerApp: number): Promise<number> {
    const { rows: apps } = await this.guarded(() =>
      this.pool.query<{ project_id: string; app_name: string }>(`SELECT DISTINCT project_id, app_name FROM runs`),
    );
    let deleted = 0;
    for (const { project_id, app_name } of apps) {
      // The newest run past the ones kept: it and every finished run older than it go.
      const { rows } = await this.guarded(() =>
        this.pool.query<{ seq: string }>(
          `SELECT seq FROM runs WHERE project_id = $1 AND app_name = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3`,
          [project_id, app_name, keepPerApp],
        ),
      );
      if (rows.length === 0) continue;
      deleted += await this.deleteInBatches(
        `SELECT seq FROM runs WHERE project_id = $1 AND app_name = $2 AND seq <= $3 AND status NOT IN ('pending', 'running')
         ORDER BY seq LIMIT ${PRUNE_BATCH}`,
        [project_id, app_name, rows[0].seq],
      );
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.flushTimer);
    const err = await this.flush();
    this.closed = true;
    if (err && this.kept.runs.size > 0) {
      // Their unfinished runs' leases run out, and another server marks them failed.
      this.log.error({ err, runs: this.kept.runs.size, store: this.location }, 'run records that could not be written are lost at close');
    }
    await this.pool.end();
  }

  /**
   * Runs a statement of the deployment (leases, the queue) against the database: a fault of the
   * database marks the store unwritable (so /ready says so) and becomes store_unavailable; a
   * statement that works again lets kept writes go at once.
   */
  async guarded<T>(op: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await op();
    } catch (err) {
      if (!isStoreFault(err)) throw err;
      this.kept.failed(err);
      throw storeUnavailable(this.location, err);
    }
    if (!this.writable) this.scheduleFlush(0);
    return result;
  }

  /** A read: store_unavailable when the database cannot be reached, but no change to what is kept. */
  private async read<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (isStoreFault(err)) throw storeUnavailable(this.location, err);
      throw err;
    }
  }

  private async deleteInBatches(select: string, params: unknown[]): Promise<number> {
    let deleted = 0;
    for (;;) {
      if (this.closed) return deleted;
      const { rowCount } = await this.guarded(() => this.pool.query(`DELETE FROM runs WHERE seq IN (${select})`, params));
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) return deleted;
    }
  }

  private scheduleFlush(delayMs = this.writable ? GROUP_COMMIT_MS : RETRY_MS): void {
    if (this.closed) return;
    if (this.flushTimer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.flushTimer);
    }
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delayMs);
    this.flushTimer.unref();
  }

  private async flushIfWritable(): Promise<void> {
    if (this.writable) await this.flush();
  }

  /** Sends every write accepted so far (after the batch in flight); resolves with the error when the database could not take them. */
  private flush(): Promise<Error | undefined> {
    const next = this.writing.then(() => this.writeBatch());
    this.writing = next;
    return next;
  }

  private nothingWaits(): boolean {
    return this.kept.runs.size === 0 && this.pendingAttempts.length === 0 && this.pendingLogs.length === 0;
  }

  private async writeBatch(): Promise<Error | undefined> {
    if (this.closed) return undefined;
    if (this.nothingWaits()) {
      // Nothing to write, but the database was unreachable: a probe learns when it is back.
      if (!this.writable) return this.probe();
      return undefined;
    }
    const batch = { runs: this.kept.takeRuns(), attempts: this.pendingAttempts, logs: this.pendingLogs };
    this.pendingAttempts = [];
    this.pendingLogs = [];
    try {
      await this.writeRuns([...batch.runs.values()]);
      await this.writeAttempts(batch.attempts);
      await this.writeLogs(batch.logs);
    } catch (err) {
      if (isStoreFault(err)) {
        this.restore(batch.runs, batch.attempts, batch.logs);
        return this.kept.failed(err);
      }
      // Not the database but a row it refuses: write the rest without it, so one bad row loses no other.
      await this.writeOneByOne(batch.runs, batch.attempts, batch.logs);
      return undefined;
    }
    if (!this.writable) this.kept.recovered(batch.runs.size);
    return undefined;
  }

  private async probe(): Promise<Error | undefined> {
    try {
      await this.pool.query('SELECT 1');
    } catch (err) {
      return this.kept.failed(err instanceof Error ? err : new Error(String(err)));
    }
    this.kept.recovered(0);
    return undefined;
  }

  /**
   * New records are inserted with this server as owner and a lease; changes apply only to runs
   * still unfinished and held here, so the first end counts, and a server that lost its lease
   * (its runs were failed or queued again meanwhile) cannot overwrite what another decided.
   */
  private async writeRuns(runs: PendingRunWrite[]): Promise<void> {
    const inserts: RunColumns[] = [];
    const changes: Array<Record<string, unknown>> = [];
    for (const { insert, change } of runs) {
      if (insert) inserts.push(insertRecord(insert, change));
      else if (change) changes.push(changeRecord(change));
    }
    if (inserts.length > 0) {
      await this.pool.query(
        `INSERT INTO runs (${INSERT_COLUMNS}, owner, lease_until)
         SELECT ${INSERT_COLUMNS}, $2, CASE WHEN r.status IN ('pending', 'running') THEN $3::bigint END
         FROM json_to_recordset($1::json) AS ${INSERT_RECORD}
         ON CONFLICT (id) DO NOTHING`,
        [JSON.stringify(inserts), this.serverId, Date.now() + this.leaseMs],
      );
    }
    if (changes.length > 0) {
      await this.pool.query(
        `UPDATE runs SET status = c.status, started_at = c.started_at, queue_time_ms = c.queue_time_ms,
           status_code = CASE WHEN c.done THEN c.status_code ELSE runs.status_code END,
           completed_at = CASE WHEN c.done THEN c.completed_at ELSE runs.completed_at END,
           run_time_ms = CASE WHEN c.done THEN c.run_time_ms ELSE runs.run_time_ms END,
           result = CASE WHEN c.done THEN c.result ELSE runs.result END,
           result_truncated = CASE WHEN c.done THEN c.result_truncated ELSE runs.result_truncated END,
           error = CASE WHEN c.done THEN c.error ELSE runs.error END,
           lease_until = CASE WHEN c.done THEN NULL ELSE runs.lease_until END,
           webhook_secret = CASE WHEN c.done THEN NULL ELSE runs.webhook_secret END,
           webhook_authorization = CASE WHEN c.done THEN NULL ELSE runs.webhook_authorization END
         FROM json_to_recordset($1::json) AS ${CHANGE_RECORD}
         WHERE runs.id = c.id AND runs.status IN ('pending', 'running') AND runs.owner = $2`,
        [JSON.stringify(changes), this.serverId],
      );
    }
  }

  private async writeAttempts(attempts: AttemptWrite[]): Promise<void> {
    if (attempts.length === 0) return;
    const records = attempts.map((a) => ({
      run_id: a.runId,
      attempt: a.attempt,
      attempted_at: a.at,
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      error: a.error,
    }));
    await this.pool.query(
      `INSERT INTO webhook_attempts (run_id, attempt, attempted_at, duration_ms, status_code, error)
       SELECT run_id, attempt, attempted_at, duration_ms, status_code, error
       FROM json_to_recordset($1::json) AS a(run_id text, attempt integer, attempted_at bigint, duration_ms double precision,
         status_code integer, error text)
       ON CONFLICT (run_id, attempt) DO NOTHING`,
      [JSON.stringify(records)],
    );
  }

  /** Lines first, then each run's lines below its latest bound go, so lines of this batch are bounded too. */
  private async writeLogs(logs: LogWrite[]): Promise<void> {
    if (logs.length === 0) return;
    const lines = logs.flatMap(({ runId, lines }) =>
      lines.map((l) => ({ run_id: runId, seq: l.seq, at: l.at, stream: l.stream, level: l.level, line: l.line, cut: l.cut ?? false })),
    );
    const bounds = new Map<string, number>();
    for (const { runId, keepFrom } of logs) bounds.set(runId, Math.max(keepFrom, bounds.get(runId) ?? 0));
    if (lines.length > 0) {
      await this.pool.query(
        `INSERT INTO run_logs (run_id, seq, at, stream, level, line, cut)
         SELECT run_id, seq, at, stream, level, line, cut
         FROM json_to_recordset($1::json) AS l(run_id text, seq integer, at bigint, stream text, level text, line text, cut boolean)
         ON CONFLICT (run_id, seq) DO NOTHING`,
        [JSON.stringify(lines)],
      );
    }
    // Only runs whose oldest lines were dropped past the bound (rare) have any to delete.
    const cut = [...bounds].filter(([, keepFrom]) => keepFrom > 0);
    if (cut.length === 0) return;
    await this.pool.query(
      `DELETE FROM run_logs USING json_to_recordset($1::json) AS k(run_id text, keep_from integer)
       WHERE run_logs.run_id = k.run_id AND run_logs.seq < k.keep_from`,
      [JSON.stringify(cut.map(([run_id, keep_from]) => ({ run_id, keep_from })))],
    );
  }

  /** A failed batch back in front of what arrived since: a newer change of a run replaces the kept one. */
  private restore(runs: Map<string, PendingRunWrite>, attempts: AttemptWrite[], logs: LogWrite[]): void {
    const waiting = this.kept.runs;
    for (const [id, kept] of runs) {
      const newer = waiting.get(id);
      if (newer) waiting.set(id, { insert: kept.insert ?? newer.insert, change: newer.change ?? kept.change });
      else waiting.set(id, kept);
    }
    this.pendingAttempts = [...attempts, ...this.pendingAttempts];
    this.pendingLogs = [...logs, ...this.pendingLogs];
  }

  /** Writes each run, attempt and log batch on its own, logging and dropping those refused. */
  private async writeOneByOne(runs: Map<string, PendingRunWrite>, attempts: AttemptWrite[], logs: LogWrite[]): Promise<void> {
    const writes: Array<[string, () => Promise<void>]> = [
      ...[...runs].map(([id, run]): [string, () => Promise<void>] => [id, () => this.writeRuns([run])]),
      ...attempts.map((a): [string, () => Promise<void>] => [a.runId, () => this.writeAttempts([a])]),
      ...logs.map((l): [string, () => Promise<void>] => [l.runId, () => this.writeLogs([l])]),
    ];
    for (const [runId, write] of writes) {
      try {
        await write();
      } catch (err) {
        this.log.error({ err, run_id: runId }, 'the run store refused a run record; it is not stored');
      }
    }
  }
}

function storeUnavailable(location: string, err: Error): CerebriumLocalError {
  return new CerebriumLocalError('store_unavailable', `The run store (${location}) cannot be reached: ${err.message}`);
}
