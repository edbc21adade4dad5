// The embedded run repository: SQLite (better-sqlite3) at <data-dir>/runs.sqlite, WAL mode, one
// server per file. Writes are gathered for a few milliseconds and committed together, a run's
// rows merged first; `commit` writes what is waiting at once (an async run's row goes to disk
// before its 202 leaves). Every read commits what is waiting first. Writes that fail for the
// store's sake (disk full, I/O error) are kept, up to a cap, and retried until they land.

import { join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { CerebriumLocalError } from '../errors.ts';
import { KeptWrites, type PendingRunWrite } from './kept-writes.ts';
import { makePrivateDir, makePrivateFiles } from './private-files.ts';
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
import { fromRow, summaryFromRow } from './run-rows.ts';
import { applySchema } from './sqlite-schema.ts';
import { type PendingLogs, PRUNE_BATCH, type PrunableRow, prepareStatements, type SqliteStatements } from './sqlite-statements.ts';

export const RUN_STORE_FILE = 'runs.sqlite';

export interface SqliteRunRepositoryOptions {
  /** The folder of runs.sqlite (made 0700 when missing; the files are 0600); in memory when absent. */
  dataDir?: string;
  log: Logger;
  /** How many runs' writes are kept for retry while the store cannot write (default 10000). */
  maxKeptRuns?: number;
}

/** While the store cannot write, kept writes are retried this often (and on each `commit`). */
const RETRY_MS = 1000;

/** SQLite result codes that say the store cannot write now, not that a row is wrong. */
const STORE_FAULT = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|NOMEM|PROTOCOL|NOLFS)/;

function isStoreFault(err: unknown): err is Error {
  return err instanceof Database.SqliteError && STORE_FAULT.test(err.code);
}

/**
 * How long writes gather before one commit. Each commit costs far more than a row, so under load
 * this is most of what the store costs the server thread (measured on 2 cores: 134 µs of
 * server-thread CPU per trivial call committing every event-loop turn, 118 µs at 5 ms, 111 µs at
 * 20 ms). The price: a server killed with SIGKILL can lose the last few ms of sync runs' records.
 */
const GROUP_COMMIT_MS = 10;

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

export class SqliteRunRepository implements RunRepository {
  private readonly log: Logger;
  /** The prepared statements and transactions this connection runs. */
  private readonly sql: SqliteStatements;
  /** Log lines waiting for the next commit, per run. */
  private pendingLogs = new Map<string, PendingLogs>();
  /**
   * While the store cannot write and nothing else waits: the record of a run refused for it,
   * written and deleted in one committed transaction by each retry, to learn when a write of
   * that size lands again.
   */
  private probe: NewRun | undefined;
  /** Rows waiting for the next commit, and those kept for retry while the store cannot write. */
  private readonly kept: KeptWrites;
  private pendingAttempts: Array<Record<string, unknown>> = [];
  private flushScheduled = false;

  get writable(): boolean {
    return this.kept.writable;
  }

  get lastWriteError(): string | undefined {
    return this.kept.lastWriteError;
  }

  /**
   * Opens (creating if needed) `<dataDir>/runs.sqlite`; without a data dir the runs live in
   * memory, for embedding and tests that do not need runs to outlive the process.
   */
  static open(options: SqliteRunRepositoryOptions): SqliteRunRepository {
    const { dataDir } = options;
    if (dataDir === undefined) return new SqliteRunRepository(new Database(':memory:'), ':memory:', options);
    if (makePrivateDir(dataDir).openToOthers) {
      options.log.warn({ dataDir }, 'the data dir can be read by other users; it holds request bodies and results (chmod 700 it)');
    }
    const file = resolve(join(dataDir, RUN_STORE_FILE));
    makePrivateFiles(file, [`${file}-wal`, `${file}-shm`]);
    return new SqliteRunRepository(new Database(file, { timeout: 1000 }), file, options);
  }

  private constructor(
    private readonly db: Database.Database,
    /** The database file, or ":memory:". */
    readonly location: string,
    options: SqliteRunRepositoryOptions,
  ) {
    this.log = options.log;
    this.kept = new KeptWrites({
      log: options.log,
      store: location,
      maxKeptRuns: options.maxKeptRuns,
      failureMessage: 'the run store cannot write; its writes are kept and retried every second',
      retry: () => this.scheduleFlush(),
      // Logs are bounded per run by the service; here, the oldest runs' lines go first past the cap.
      others: () => [this.pendingAttempts, this.pendingLogs],
    });
    openSchema(db, location);
    this.sql = prepareStatements(db);
  }

  /**
   * SQLite's max_page_count for this connection: the file cannot grow past it, and a write that
   * needs more fails as on a full disk ("database or disk is full", SQLITE_FULL). It is a setting
   * of the connection, and the store holds its file exclusively, so tests fill the store for real
   * through this. Returns the limit in force (never below the pages already used).
   */
  setMaxPageCount(pages: number): number {
    return Number(this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(pages))}`, { simple: true }));
  }

  /** A run that starts and ends within one commit's gathering costs one INSERT. */
  insert(run: NewRun): void {
    this.kept.insert(run);
    this.scheduleFlush();
  }

  discard(runId: string): void {
    const insert = this.kept.runs.get(runId)?.insert;
    this.kept.runs.delete(runId);
    this.pendingLogs.delete(runId);
    if (insert && !this.writable) this.probe = insert;
  }

  transition(change: RunChange): void {
    this.kept.change(change);
    this.scheduleFlush();
  }

  recordWebhookAttempt(runId: string, attempt: WebhookAttempt): void {
    this.pendingAttempts.push({
      run_id: runId,
      attempt: attempt.attempt,
      attempted_at: attempt.at,
      duration_ms: attempt.durationMs,
      status_code: attempt.statusCode,
      error: attempt.error,
    });
    this.scheduleFlush();
  }

  appendLogs(runId: string, lines: StoredLogLine[], keepFrom: number): void {
    const pending = this.pendingLogs.get(runId);
    if (pending) {
      // Lines added and dropped again within one gathering are never written.
      if (keepFrom > pending.keepFrom) {
        pending.keepFrom = keepFrom;
        pending.lines = pending.lines.filter((line) => line.seq >= keepFrom);
      }
      for (const line of lines) pending.lines.push(line);
    } else {
      this.pendingLogs.set(runId, { lines: [...lines], keepFrom });
      if (!this.writable) this.kept.cap();
    }
    this.scheduleFlush();
  }

  async logs(runId: string): Promise<StoredLogLine[]> {
    this.flushIfWritable();
    return this.sql.selectLogs.all(runId).map((row) => {
      const line: StoredLogLine = { seq: row.seq, at: row.at, stream: row.stream, level: row.level, line: row.line };
      if (row.cut === 1) line.cut = true;
      return line;
    });
  }

  async commit(): Promise<void> {
    const err = this.flush();
    if (err) {
      throw new CerebriumLocalError('store_unavailable', `The run store (${this.location}) cannot write: ${err.message}`);
    }
  }

  async get(id: string): Promise<StoredRun | undefined> {
    this.flushIfWritable();
    const row = this.sql.selectRun.get(id);
    return row && fromRow(row);
  }

  async listPage(query: RunPageQuery): Promise<RunSummary[]> {
    this.flushIfWritable();
    return this.sql.selectPage(query).map(summaryFromRow);
  }

  async webhookAttempts(runId: string): Promise<WebhookAttempt[]> {
    this.flushIfWritable();
    return this.sql.selectAttempts.all(runId).map((row) => ({
      attempt: row.attempt,
      at: row.attempted_at,
      durationMs: row.duration_ms,
      statusCode: row.status_code,
      error: row.error,
    }));
  }

  async recoverInterrupted(statusCode: number, error: Record<string, unknown>): Promise<number> {
    this.flush();
    return this.sql.failUnfinishedRuns.run({ status_code: statusCode, completed_at: Date.now(), error: JSON.stringify(error) }).changes;
  }

  async prune(completedBefore: number): Promise<number> {
    return this.deleteInBatches(() => this.sql.selectFinishedBefore.all(completedBefore));
  }

  async pruneExcess(keepPerApp: number): Promise<number> {
    this.flushIfWritable();
    let deleted = 0;
    for (const { project_id, app_name } of this.sql.selectApps.all()) {
      // The newest run past the ones kept: it and every finished run older than it go.
      const beyond = this.sql.selectNewestBeyond.get(project_id, app_name, keepPerApp);
      if (beyond === undefined) continue;
      deleted += await this.deleteInBatches(() => this.sql.selectFinishedUpTo.all(project_id, app_name, beyond.seq));
    }
    return deleted;
  }

  async close(): Promise<void> {
    const err = this.flush();
    if (err && this.kept.runs.size > 0) {
      // Nothing is left to retry them; the next start marks their unfinished runs as failed.
      this.log.error({ err, runs: this.kept.runs.size, store: this.location }, 'run records that could not be written are lost at close');
    }
    if (this.db.open) this.db.close();
  }

  /** Deletes the rows `next` picks, a batch per transaction with a turn of the event loop between, until none are left. */
  private async deleteInBatches(next: () => PrunableRow[]): Promise<number> {
    let deleted = 0;
    for (;;) {
      if (!this.db.open) return deleted;
      this.flushIfWritable();
      const rows = next();
      if (rows.length > 0) this.sql.deleteRuns(rows);
      deleted += rows.length;
      if (rows.length < PRUNE_BATCH) return deleted;
      await nextTurn();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(
      () => {
        this.flushScheduled = false;
        if (!this.writable && this.nothingWaits()) this.writeProbe();
        else this.flush();
      },
      this.writable ? GROUP_COMMIT_MS : RETRY_MS,
    ).unref();
  }

  /** Reads commit what is waiting first, but leave retrying a store that cannot write to its timer and `commit`. */
  private flushIfWritable(): void {
    if (this.writable) this.flush();
  }

  /**
   * Commits every write gathered so far, in one transaction. When the store cannot write, the
   * writes stay waiting (the transaction left nothing behind) and a retry is scheduled; returns
   * the error then.
   */
  private flush(): Error | undefined {
    if (!this.db.open) return undefined;
    if (this.nothingWaits()) return undefined;
    const runs = [...this.kept.runs.values()];
    const attempts = this.pendingAttempts;
    const logs = [...this.pendingLogs];
    try {
      this.sql.commitTransaction(runs, attempts, logs);
    } catch (err) {
      if (isStoreFault(err)) return this.kept.failed(err);
      // Not the store but a row it refuses: write the rest without it, so one bad row loses no other.
      this.writeOneByOne(runs, attempts, logs);
      return undefined;
    }
    // Nothing can be added between the copy above and here: the commit is synchronous.
    this.kept.runs.clear();
    this.pendingAttempts = [];
    this.pendingLogs.clear();
    if (!this.writable) this.markWritable(runs.length);
    return undefined;
  }

  private nothingWaits(): boolean {
    return this.kept.runs.size === 0 && this.pendingAttempts.length === 0 && this.pendingLogs.size === 0;
  }

  /**
   * Nothing waits, but the store could not write: a refused run's record is written and deleted
   * again, so a server that readiness gating keeps idle still learns when the store recovers.
   */
  private writeProbe(): void {
    const probe = this.probe;
    if (probe && this.db.open) {
      try {
        this.sql.probeTransaction(probe);
      } catch (err) {
        if (isStoreFault(err)) {
          this.kept.failed(err);
          return;
        }
      }
    }
    this.markWritable(0);
  }

  private markWritable(stored: number): void {
    this.probe = undefined;
    this.kept.recovered(stored);
  }

  /** Writes each run (and each attempt) in its own transaction, logging and dropping those refused. */
  private writeOneByOne(runs: PendingRunWrite[], attempts: Array<Record<string, unknown>>, logs: Array<[string, PendingLogs]>): void {
    this.kept.runs.clear();
    this.pendingAttempts = [];
    this.pendingLogs.clear();
    const writes: Array<[string, () => void]> = [
      ...runs.map((run): [string, () => void] => [(run.insert ?? run.change)?.id ?? '', () => this.sql.commitTransaction([run], [])]),
      ...attempts.map((attempt): [string, () => void] => [String(attempt.run_id), () => this.sql.commitTransaction([], [attempt])]),
      ...logs.map((entry): [string, () => void] => [entry[0], () => this.sql.commitTransaction([], [], [entry])]),
    ];
    for (const [runId, write] of writes) {
      try {
        write();
      } catch (err) {
        this.log.error({ err, run_id: runId }, 'the run store refused a run record; it is not stored');
      }
    }
  }
}

/** Applies the schema; on failure closes the connection, naming a store another server holds. */
function openSchema(db: Database.Database, location: string): void {
  try {
    applySchema(db);
  } catch (err) {
    db.close();
    if (err instanceof Error && /locked|busy/i.test(err.message)) {
      throw new DataDirInUseError(`${location} is in use by another cerebrium-local server; give each server its own --data-dir`);
    }
    throw err;
  }
}
