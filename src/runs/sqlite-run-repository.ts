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
import { fromRow, insertRecord, type RunRow, SUMMARY_COLUMNS, type SummaryRow, summaryFromRow } from './run-rows.ts';

export const RUN_STORE_FILE = 'runs.sqlite';

/** A run to delete: its position and its id (for its webhook attempts). */
interface PrunableRow {
  seq: number;
  id: string;
}

interface AttemptRow {
  attempt: number;
  attempted_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  project_id       TEXT NOT NULL,
  app_name         TEXT NOT NULL,
  function_name    TEXT NOT NULL,
  async            INTEGER NOT NULL,
  method           TEXT NOT NULL,
  status           TEXT NOT NULL,
  status_code      INTEGER,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  completed_at     INTEGER,
  run_time_ms      REAL,
  queue_time_ms    REAL,
  params           TEXT NOT NULL,
  result           TEXT,
  result_truncated INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  webhook_endpoint TEXT,
  fault            TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_app ON runs (project_id, app_name, seq);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (status) WHERE status IN ('pending', 'running');
CREATE TABLE IF NOT EXISTS webhook_attempts (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  attempt      INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  duration_ms  REAL NOT NULL,
  status_code  INTEGER,
  error        TEXT,
  PRIMARY KEY (run_id, attempt)
);
CREATE TABLE IF NOT EXISTS run_logs (
  run_id TEXT NOT NULL,
  seq    INTEGER NOT NULL,
  at     INTEGER NOT NULL,
  stream TEXT NOT NULL,
  level  TEXT NOT NULL,
  line   TEXT NOT NULL,
  cut    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
`;

interface LogRow {
  seq: number;
  at: number;
  stream: StoredLogLine['stream'];
  level: string;
  line: string;
  cut: number;
}

/** A run's log lines waiting for the commit: those to add, and the first seq to keep. */
interface PendingLogs {
  lines: StoredLogLine[];
  keepFrom: number;
}

export interface SqliteRunRepositoryOptions {
  /** The folder of runs.sqlite (made 0700 when missing; the files are 0600); in memory when absent. */
  dataDir?: string;
  log: Logger;
  /** How many runs' writes are kept for retry while the store cannot write (default 10000). */
  maxKeptRuns?: number;
}

/** While the store cannot write, kept writes are retried this often (and on each `commit`). */
const RETRY_MS = 1000;
/** Rows deleted per transaction when pruning; the event loop gets a turn between batches. */
const PRUNE_BATCH = 500;

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
  private readonly insertRun;
  private readonly markRunning;
  private readonly markDone;
  private readonly selectRun;
  private readonly selectPage;
  private readonly selectAsyncPage;
  private readonly insertAttempt;
  private readonly selectAttempts;
  private readonly failUnfinishedRuns;
  private readonly selectFinishedBefore;
  private readonly selectApps;
  private readonly selectNewestBeyond;
  private readonly selectFinishedUpTo;
  private readonly deleteRuns: (rows: PrunableRow[]) => void;
  private readonly commitTransaction: (
    runs: PendingRunWrite[],
    attempts: Array<Record<string, unknown>>,
    logs?: Array<[string, PendingLogs]>,
  ) => void;
  private readonly writeLogs: (runId: string, logs: PendingLogs) => void;
  private readonly selectLogs;
  /** Log lines waiting for the next commit, per run. */
  private pendingLogs = new Map<string, PendingLogs>();
  private readonly probeTransaction: (run: NewRun) => void;
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
    try {
      // One server per data dir: the exclusive lock (dropped by the OS even on SIGKILL) stops a
      // second server from marking the first one's live runs as interrupted.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL survives a killed process; only a power cut can lose the last commits.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      addResultTruncatedColumn(db);
      addFaultColumn(db);
    } catch (err) {
      db.close();
      if (err instanceof Error && /locked|busy/i.test(err.message)) {
        throw new DataDirInUseError(`${location} is in use by another cerebrium-local server; give each server its own --data-dir`);
      }
      throw err;
    }

    this.insertRun = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, status_code, created_at, started_at,
         completed_at, run_time_ms, queue_time_ms, params, result, result_truncated, error, webhook_endpoint, fault)
       VALUES (@id, @project_id, @app_name, @function_name, @async, @method, @status, @status_code, @created_at, @started_at,
         @completed_at, @run_time_ms, @queue_time_ms, @params, @result, @result_truncated, @error, @webhook_endpoint, @fault)`,
    );
    this.markRunning = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = @status, started_at = @started_at, queue_time_ms = @queue_time_ms WHERE id = @id`,
    );
    this.markDone = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = @status, status_code = @status_code, started_at = @started_at, completed_at = @completed_at,
         run_time_ms = @run_time_ms, queue_time_ms = @queue_time_ms, result = @result, result_truncated = @result_truncated,
         error = @error
       WHERE id = @id`,
    );
    this.selectRun = db.prepare<[string], RunRow>(`SELECT * FROM runs WHERE id = ?`);
    this.selectPage = db.prepare<[string, string, number, number], SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE project_id = ? AND app_name = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    );
    this.selectAsyncPage = db.prepare<[string, string, number, number], SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE project_id = ? AND app_name = ? AND seq < ? AND async = 1 ORDER BY seq DESC LIMIT ?`,
    );
    this.insertAttempt = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO webhook_attempts (run_id, attempt, attempted_at, duration_ms, status_code, error)
       VALUES (@run_id, @attempt, @attempted_at, @duration_ms, @status_code, @error)`,
    );
    this.selectAttempts = db.prepare<[string], AttemptRow>(
      `SELECT attempt, attempted_at, duration_ms, status_code, error FROM webhook_attempts WHERE run_id = ? ORDER BY attempt`,
    );
    const insertLog = db.prepare<[Record<string, unknown>]>(
      `INSERT OR REPLACE INTO run_logs (run_id, seq, at, stream, level, line, cut) VALUES (@run_id, @seq, @at, @stream, @level, @line, @cut)`,
    );
    const deleteLogsBefore = db.prepare<[string, number]>(`DELETE FROM run_logs WHERE run_id = ? AND seq < ?`);
    this.writeLogs = (runId: string, logs: PendingLogs) => {
      if (logs.keepFrom > 0) deleteLogsBefore.run(runId, logs.keepFrom);
      for (const line of logs.lines) {
        insertLog.run({
          run_id: runId,
          seq: line.seq,
          at: line.at,
          stream: line.stream,
          level: line.level,
          line: line.line,
          cut: line.cut ? 1 : 0,
        });
      }
    };
    this.selectLogs = db.prepare<[string], LogRow>(`SELECT seq, at, stream, level, line, cut FROM run_logs WHERE run_id = ? ORDER BY seq`);
    this.commitTransaction = db.transaction(
      (runs: PendingRunWrite[], attempts: Array<Record<string, unknown>>, logs: Array<[string, PendingLogs]> = []) => {
        for (const run of runs) this.writeRun(run);
        for (const attempt of attempts) this.insertAttempt.run(attempt);
        for (const [runId, pending] of logs) this.writeLogs(runId, pending);
      },
    );
    const deleteRunById = db.prepare<[string]>(`DELETE FROM runs WHERE id = ?`);
    this.probeTransaction = db.transaction((run: NewRun) => {
      this.insertRun.run(insertRow(run, undefined));
      deleteRunById.run(run.id);
    });
    this.failUnfinishedRuns = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = 'failure', status_code = @status_code, completed_at = @completed_at, error = @error
       WHERE status IN ('pending', 'running')`,
    );
    // Unfinished runs have no completed_at, so `completed_at < ?` never picks one.
    this.selectFinishedBefore = db.prepare<[number], PrunableRow>(
      `SELECT seq, id FROM runs WHERE completed_at < ? ORDER BY seq LIMIT ${PRUNE_BATCH}`,
    );
    this.selectApps = db.prepare<[], { project_id: string; app_name: string }>(`SELECT DISTINCT project_id, app_name FROM runs`);
    this.selectNewestBeyond = db.prepare<[string, string, number], { seq: number }>(
      `SELECT seq FROM runs WHERE project_id = ? AND app_name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?`,
    );
    this.selectFinishedUpTo = db.prepare<[string, string, number], PrunableRow>(
      `SELECT seq, id FROM runs WHERE project_id = ? AND app_name = ? AND seq <= ? AND status NOT IN ('pending', 'running')
       ORDER BY seq LIMIT ${PRUNE_BATCH}`,
    );
    const deleteAttemptsOf = db.prepare<[string]>(`DELETE FROM webhook_attempts WHERE run_id = ?`);
    const deleteLogsOf = db.prepare<[string]>(`DELETE FROM run_logs WHERE run_id = ?`);
    const deleteRun = db.prepare<[number]>(`DELETE FROM runs WHERE seq = ?`);
    this.deleteRuns = db.transaction((rows: PrunableRow[]) => {
      for (const row of rows) {
        deleteAttemptsOf.run(row.id);
        deleteLogsOf.run(row.id);
        deleteRun.run(row.seq);
      }
    });
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
      pending.keepFrom = Math.max(pending.keepFrom, keepFrom);
      // Lines added and dropped again within one gathering are never written.
      pending.lines = [...pending.lines.filter((line) => line.seq >= pending.keepFrom), ...lines];
    } else {
      this.pendingLogs.set(runId, { lines, keepFrom });
      if (!this.writable) this.kept.cap();
    }
    this.scheduleFlush();
  }

  async logs(runId: string): Promise<StoredLogLine[]> {
    this.flushIfWritable();
    return this.selectLogs.all(runId).map((row) => {
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
    const row = this.selectRun.get(id);
    return row && fromRow(row);
  }

  async listPage(query: RunPageQuery): Promise<RunSummary[]> {
    this.flushIfWritable();
    const statement = query.asyncOnly ? this.selectAsyncPage : this.selectPage;
    return statement.all(query.projectId, query.appName, query.before ?? Number.MAX_SAFE_INTEGER, query.limit).map(summaryFromRow);
  }

  async webhookAttempts(runId: string): Promise<WebhookAttempt[]> {
    this.flushIfWritable();
    return this.selectAttempts.all(runId).map((row) => ({
      attempt: row.attempt,
      at: row.attempted_at,
      durationMs: row.duration_ms,
      statusCode: row.status_code,
      error: row.error,
    }));
  }

  async recoverInterrupted(statusCode: number, error: Record<string, unknown>): Promise<number> {
    this.flush();
    return this.failUnfinishedRuns.run({ status_code: statusCode, completed_at: Date.now(), error: JSON.stringify(error) }).changes;
  }

  async prune(completedBefore: number): Promise<number> {
    return this.deleteInBatches(() => this.selectFinishedBefore.all(completedBefore));
  }

  async pruneExcess(keepPerApp: number): Promise<number> {
    this.flushIfWritable();
    let deleted = 0;
    for (const { project_id, app_name } of this.selectApps.all()) {
      // The newest run past the ones kept: it and every finished run older than it go.
      const beyond = this.selectNewestBeyond.get(project_id, app_name, keepPerApp);
      if (beyond === undefined) continue;
      deleted += await this.deleteInBatches(() => this.selectFinishedUpTo.all(project_id, app_name, beyond.seq));
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
      if (rows.length > 0) this.deleteRuns(rows);
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
      this.commitTransaction(runs, attempts, logs);
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
        this.probeTransaction(probe);
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
      ...runs.map((run): [string, () => void] => [(run.insert ?? run.change)?.id ?? '', () => this.commitTransaction([run], [])]),
      ...attempts.map((attempt): [string, () => void] => [String(attempt.run_id), () => this.commitTransaction([], [attempt])]),
      ...logs.map((entry): [string, () => void] => [entry[0], () => this.commitTransaction([], [], [entry])]),
    ];
    for (const [runId, write] of writes) {
      try {
        write();
      } catch (err) {
        this.log.error({ err, run_id: runId }, 'the run store refused a run record; it is not stored');
      }
    }
  }

  private writeRun({ insert, change }: PendingRunWrite): void {
    if (insert) this.insertRun.run(insertRow(insert, change));
    else if (change?.end) this.markDone.run(doneRow(change, change.end));
    else if (change) {
      this.markRunning.run({ id: change.id, status: change.status, started_at: change.startedAt, queue_time_ms: change.queueTimeMs });
    }
  }
}

/** A new run's row, with its latest state when it changed before its first commit; SQLite keeps booleans as 0 or 1. */
function insertRow(run: NewRun, change: RunChange | undefined): Record<string, string | number | null> {
  const record = insertRecord(run, change);
  return { ...record, async: record.async ? 1 : 0, result_truncated: record.result_truncated ? 1 : 0 };
}

function doneRow(change: RunChange, end: NonNullable<RunChange['end']>): Record<string, string | number | null> {
  return {
    id: change.id,
    status: change.status,
    status_code: end.statusCode,
    started_at: change.startedAt,
    completed_at: end.completedAt,
    run_time_ms: end.runTimeMs,
    queue_time_ms: change.queueTimeMs,
    result: end.resultJson,
    result_truncated: end.resultTruncated ? 1 : 0,
    error: end.errorJson,
  };
}

/** Stores made before faults could be injected lack the column; it is added in place. */
function addFaultColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('runs')`).all();
  if (!columns.some((column) => column.name === 'fault')) db.exec(`ALTER TABLE runs ADD COLUMN fault TEXT`);
}

/** Stores made before results could be truncated lack the column; it is added in place. */
function addResultTruncatedColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('runs')`).all();
  if (!columns.some((column) => column.name === 'result_truncated')) {
    db.exec(`ALTER TABLE runs ADD COLUMN result_truncated INTEGER NOT NULL DEFAULT 0`);
  }
}
