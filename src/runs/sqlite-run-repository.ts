// The embedded run repository: SQLite (better-sqlite3) at <data-dir>/runs.sqlite, WAL mode, one
// server per file. Writes are gathered for a few milliseconds and committed together, a run's
// rows merged first; `commit` writes what is waiting at once (an async run's row goes to disk
// before its 202 leaves). Every read commits what is waiting first.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { RunStatus } from './run.ts';
import type { NewRun, RunChange, RunPageQuery, RunRepository, StoredRun, WebhookAttempt } from './run-repository.ts';

export const RUN_STORE_FILE = 'runs.sqlite';

interface RunRow {
  seq: number;
  id: string;
  project_id: string;
  app_name: string;
  function_name: string;
  async: number;
  method: string;
  status: RunStatus;
  status_code: number | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  run_time_ms: number | null;
  queue_time_ms: number | null;
  params: string;
  result: string | null;
  error: string | null;
  webhook_endpoint: string | null;
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
  error            TEXT,
  webhook_endpoint TEXT
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
`;

export interface SqliteRunRepositoryOptions {
  /** The folder of runs.sqlite; in memory when absent. */
  dataDir?: string;
  log: Logger;
}

/**
 * How long writes gather before one commit. Each commit costs far more than a row, so under load
 * this is most of what the store costs the server thread (measured on 2 cores: 134 µs of
 * server-thread CPU per trivial call committing every event-loop turn, 118 µs at 5 ms, 111 µs at
 * 20 ms). The price: a server killed with SIGKILL can lose the last few ms of sync runs' records.
 */
const GROUP_COMMIT_MS = 10;

/**
 * A run's writes waiting for the commit: its new record, and its latest change. A change carries
 * the run's whole state, so the latest replaces the one before and a run costs one row write.
 */
interface PendingRunWrite {
  insert?: NewRun;
  change?: RunChange;
}

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
  private readonly deleteAttemptsBefore;
  private readonly deleteRunsBefore;
  private readonly commitTransaction: (runs: PendingRunWrite[], attempts: Array<Record<string, unknown>>) => void;
  /** Rows waiting for the next commit, merged per run. */
  private readonly pendingRuns = new Map<string, PendingRunWrite>();
  private pendingAttempts: Array<Record<string, unknown>> = [];
  private flushScheduled = false;

  /**
   * Opens (creating if needed) `<dataDir>/runs.sqlite`; without a data dir the runs live in
   * memory, for embedding and tests that do not need runs to outlive the process.
   */
  static open(options: SqliteRunRepositoryOptions): SqliteRunRepository {
    const { dataDir } = options;
    if (dataDir === undefined) return new SqliteRunRepository(new Database(':memory:'), ':memory:', options);
    mkdirSync(dataDir, { recursive: true });
    const file = resolve(join(dataDir, RUN_STORE_FILE));
    return new SqliteRunRepository(new Database(file, { timeout: 1000 }), file, options);
  }

  private constructor(
    private readonly db: Database.Database,
    /** The database file, or ":memory:". */
    readonly location: string,
    options: SqliteRunRepositoryOptions,
  ) {
    this.log = options.log;
    try {
      // One server per data dir: the exclusive lock (dropped by the OS even on SIGKILL) stops a
      // second server from marking the first one's live runs as interrupted.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL survives a killed process; only a power cut can lose the last commits.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      if (err instanceof Error && /locked|busy/i.test(err.message)) {
        throw new DataDirInUseError(`${location} is in use by another cerebrium-local server; give each server its own --data-dir`);
      }
      throw err;
    }

    this.insertRun = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, status_code, created_at, started_at,
         completed_at, run_time_ms, queue_time_ms, params, result, error, webhook_endpoint)
       VALUES (@id, @project_id, @app_name, @function_name, @async, @method, @status, @status_code, @created_at, @started_at,
         @completed_at, @run_time_ms, @queue_time_ms, @params, @result, @error, @webhook_endpoint)`,
    );
    this.markRunning = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = @status, started_at = @started_at, queue_time_ms = @queue_time_ms WHERE id = @id`,
    );
    this.markDone = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = @status, status_code = @status_code, started_at = @started_at, completed_at = @completed_at,
         run_time_ms = @run_time_ms, queue_time_ms = @queue_time_ms, result = @result, error = @error
       WHERE id = @id`,
    );
    this.selectRun = db.prepare<[string], RunRow>(`SELECT * FROM runs WHERE id = ?`);
    this.selectPage = db.prepare<[string, string, number, number], RunRow>(
      `SELECT * FROM runs WHERE project_id = ? AND app_name = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    );
    this.selectAsyncPage = db.prepare<[string, string, number, number], RunRow>(
      `SELECT * FROM runs WHERE project_id = ? AND app_name = ? AND seq < ? AND async = 1 ORDER BY seq DESC LIMIT ?`,
    );
    this.insertAttempt = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO webhook_attempts (run_id, attempt, attempted_at, duration_ms, status_code, error)
       VALUES (@run_id, @attempt, @attempted_at, @duration_ms, @status_code, @error)`,
    );
    this.selectAttempts = db.prepare<[string], AttemptRow>(
      `SELECT attempt, attempted_at, duration_ms, status_code, error FROM webhook_attempts WHERE run_id = ? ORDER BY attempt`,
    );
    this.commitTransaction = db.transaction((runs: PendingRunWrite[], attempts: Array<Record<string, unknown>>) => {
      for (const run of runs) this.writeRun(run);
      for (const attempt of attempts) this.insertAttempt.run(attempt);
    });
    this.failUnfinishedRuns = db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = 'failure', status_code = @status_code, completed_at = @completed_at, error = @error
       WHERE status IN ('pending', 'running')`,
    );
    this.deleteAttemptsBefore = db.prepare<[number]>(
      `DELETE FROM webhook_attempts WHERE run_id IN (SELECT id FROM runs WHERE completed_at < ?)`,
    );
    this.deleteRunsBefore = db.prepare<[number]>(`DELETE FROM runs WHERE completed_at < ?`);
  }

  /** A run that starts and ends within one commit's gathering costs one INSERT. */
  insert(run: NewRun): void {
    this.pendingRuns.set(run.id, { insert: run });
    this.scheduleFlush();
  }

  transition(change: RunChange): void {
    const pending = this.pendingRuns.get(change.id);
    if (pending) pending.change = change;
    else this.pendingRuns.set(change.id, { change });
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

  async commit(): Promise<void> {
    this.flush();
  }

  async get(id: string): Promise<StoredRun | undefined> {
    this.flush();
    const row = this.selectRun.get(id);
    return row && fromRow(row);
  }

  async listPage(query: RunPageQuery): Promise<StoredRun[]> {
    this.flush();
    const statement = query.asyncOnly ? this.selectAsyncPage : this.selectPage;
    return statement.all(query.projectId, query.appName, query.before ?? Number.MAX_SAFE_INTEGER, query.limit).map(fromRow);
  }

  async webhookAttempts(runId: string): Promise<WebhookAttempt[]> {
    this.flush();
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
    this.flush();
    return this.db.transaction(() => {
      this.deleteAttemptsBefore.run(completedBefore);
      return this.deleteRunsBefore.run(completedBefore).changes;
    })();
  }

  async close(): Promise<void> {
    this.flush();
    if (this.db.open) this.db.close();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => {
      this.flushScheduled = false;
      this.flush();
    }, GROUP_COMMIT_MS).unref();
  }

  /** Commits every write gathered so far, in one transaction. */
  private flush(): void {
    if ((this.pendingRuns.size === 0 && this.pendingAttempts.length === 0) || !this.db.open) return;
    const runs = [...this.pendingRuns.values()];
    const attempts = this.pendingAttempts;
    this.pendingRuns.clear();
    this.pendingAttempts = [];
    try {
      this.commitTransaction(runs, attempts);
    } catch (err) {
      // Disk full, say: the runs themselves go on; their records are what is lost, and the log says so.
      this.log.error({ err, runs: runs.length }, 'could not write runs to the run store');
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

/** A new run's row, with its latest state when it changed before its first commit. */
function insertRow(run: NewRun, change: RunChange | undefined): Record<string, string | number | null> {
  const end = change?.end;
  return {
    id: run.id,
    project_id: run.projectId,
    app_name: run.appName,
    function_name: run.functionName,
    async: run.async ? 1 : 0,
    status: change?.status ?? run.status,
    status_code: end?.statusCode ?? null,
    created_at: run.createdAt,
    started_at: change?.startedAt ?? null,
    completed_at: end?.completedAt ?? null,
    run_time_ms: end?.runTimeMs ?? null,
    queue_time_ms: change?.queueTimeMs ?? null,
    method: run.method,
    params: run.paramsJson,
    result: end?.resultJson ?? null,
    error: end?.errorJson ?? null,
    webhook_endpoint: run.webhookEndpoint,
  };
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
    error: end.errorJson,
  };
}

function fromRow(row: RunRow): StoredRun {
  return {
    seq: row.seq,
    id: row.id,
    projectId: row.project_id,
    appName: row.app_name,
    functionName: row.function_name,
    async: row.async === 1,
    method: row.method,
    status: row.status,
    statusCode: row.status_code,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    runTimeMs: row.run_time_ms,
    queueTimeMs: row.queue_time_ms,
    paramsJson: row.params,
    resultJson: row.result,
    errorJson: row.error,
    webhookEndpoint: row.webhook_endpoint,
  };
}
