// The SQLite run store's prepared statements and the transactions built from them, prepared once
// per connection (after the schema is in place) and used by SqliteRunRepository.
import type Database from 'better-sqlite3';
import type { PendingRunWrite } from './kept-writes.ts';
import type { NewRun, RunChange, RunPageQuery, StoredLogLine } from './run-repository.ts';
import { insertRecord, type RunRow, SUMMARY_COLUMNS, type SummaryRow } from './run-rows.ts';

/** Rows deleted per transaction when pruning; the event loop gets a turn between batches. */
export const PRUNE_BATCH = 500;

/** A run to delete: its position and its id (for its webhook attempts). */
export interface PrunableRow {
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

interface LogRow {
  seq: number;
  at: number;
  stream: StoredLogLine['stream'];
  level: string;
  line: string;
  cut: number;
}

/** A run's log lines waiting for the commit: those to add, and the first seq to keep. */
export interface PendingLogs {
  lines: StoredLogLine[];
  keepFrom: number;
}

export type SqliteStatements = ReturnType<typeof prepareStatements>;

/** Every statement the repository runs, and the transactions that write and delete in one go. */
export function prepareStatements(db: Database.Database) {
  const runWrites = prepareRunWrites(db);
  const logWrites = prepareLogWrites(db);
  const insertAttempt = db.prepare<[Record<string, unknown>]>(
    `INSERT INTO webhook_attempts (run_id, attempt, attempted_at, duration_ms, status_code, error)
     VALUES (@run_id, @attempt, @attempted_at, @duration_ms, @status_code, @error)`,
  );
  const commitTransaction: (
    runs: PendingRunWrite[],
    attempts: Array<Record<string, unknown>>,
    logs?: Array<[string, PendingLogs]>,
  ) => void = db.transaction(
    (runs: PendingRunWrite[], attempts: Array<Record<string, unknown>>, logs: Array<[string, PendingLogs]> = []) => {
      for (const run of runs) runWrites.writeRun(run);
      for (const attempt of attempts) insertAttempt.run(attempt);
      for (const [runId, pending] of logs) logWrites.writeLogs(runId, pending);
    },
  );
  return {
    commitTransaction,
    probeTransaction: runWrites.probeTransaction,
    ...prepareReads(db),
    ...preparePruning(db),
  };
}

/** Writing a run's row (new, started or done), and the probe that writes one and deletes it again. */
function prepareRunWrites(db: Database.Database) {
  const insertRun = db.prepare<[Record<string, unknown>]>(
    `INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, status_code, created_at, started_at,
       completed_at, run_time_ms, queue_time_ms, params, result, result_truncated, error, webhook_endpoint, fault)
     VALUES (@id, @project_id, @app_name, @function_name, @async, @method, @status, @status_code, @created_at, @started_at,
       @completed_at, @run_time_ms, @queue_time_ms, @params, @result, @result_truncated, @error, @webhook_endpoint, @fault)`,
  );
  const markRunning = db.prepare<[Record<string, unknown>]>(
    `UPDATE runs SET status = @status, started_at = @started_at, queue_time_ms = @queue_time_ms WHERE id = @id`,
  );
  const markDone = db.prepare<[Record<string, unknown>]>(
    `UPDATE runs SET status = @status, status_code = @status_code, started_at = @started_at, completed_at = @completed_at,
       run_time_ms = @run_time_ms, queue_time_ms = @queue_time_ms, result = @result, result_truncated = @result_truncated,
       error = @error
     WHERE id = @id`,
  );
  const deleteRunById = db.prepare<[string]>(`DELETE FROM runs WHERE id = ?`);
  const writeRun = ({ insert, change }: PendingRunWrite): void => {
    if (insert) insertRun.run(insertRow(insert, change));
    else if (change?.end) markDone.run(doneRow(change, change.end));
    else if (change) {
      markRunning.run({ id: change.id, status: change.status, started_at: change.startedAt, queue_time_ms: change.queueTimeMs });
    }
  };
  const probeTransaction: (run: NewRun) => void = db.transaction((run: NewRun) => {
    insertRun.run(insertRow(run, undefined));
    deleteRunById.run(run.id);
  });
  return { writeRun, probeTransaction };
}

/** Writing a run's log lines: dropping those before `keepFrom`, then adding (or replacing) the new ones. */
function prepareLogWrites(db: Database.Database) {
  const insertLog = db.prepare<[Record<string, unknown>]>(
    `INSERT OR REPLACE INTO run_logs (run_id, seq, at, stream, level, line, cut) VALUES (@run_id, @seq, @at, @stream, @level, @line, @cut)`,
  );
  const deleteLogsBefore = db.prepare<[string, number]>(`DELETE FROM run_logs WHERE run_id = ? AND seq < ?`);
  const writeLogs = (runId: string, logs: PendingLogs): void => {
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
  return { writeLogs };
}

/** Reading a run, a page of runs, a run's webhook attempts and its log lines. */
function prepareReads(db: Database.Database) {
  return {
    selectRun: db.prepare<[string], RunRow>(`SELECT * FROM runs WHERE id = ?`),
    selectPage: pageStatements(db),
    selectAttempts: db.prepare<[string], AttemptRow>(
      `SELECT attempt, attempted_at, duration_ms, status_code, error FROM webhook_attempts WHERE run_id = ? ORDER BY attempt`,
    ),
    selectLogs: db.prepare<[string], LogRow>(`SELECT seq, at, stream, level, line, cut FROM run_logs WHERE run_id = ? ORDER BY seq`),
  };
}

/** Failing interrupted runs at start, and picking and deleting the runs retention lets go. */
function preparePruning(db: Database.Database) {
  const deleteAttemptsOf = db.prepare<[string]>(`DELETE FROM webhook_attempts WHERE run_id = ?`);
  const deleteLogsOf = db.prepare<[string]>(`DELETE FROM run_logs WHERE run_id = ?`);
  const deleteRun = db.prepare<[number]>(`DELETE FROM runs WHERE seq = ?`);
  const deleteRuns: (rows: PrunableRow[]) => void = db.transaction((rows: PrunableRow[]) => {
    for (const row of rows) {
      deleteAttemptsOf.run(row.id);
      deleteLogsOf.run(row.id);
      deleteRun.run(row.seq);
    }
  });
  return {
    failUnfinishedRuns: db.prepare<[Record<string, unknown>]>(
      `UPDATE runs SET status = 'failure', status_code = @status_code, completed_at = @completed_at, error = @error
       WHERE status IN ('pending', 'running')`,
    ),
    // Unfinished runs have no completed_at, so `completed_at < ?` never picks one.
    selectFinishedBefore: db.prepare<[number], PrunableRow>(
      `SELECT seq, id FROM runs WHERE completed_at < ? ORDER BY seq LIMIT ${PRUNE_BATCH}`,
    ),
    selectApps: db.prepare<[], { project_id: string; app_name: string }>(`SELECT DISTINCT project_id, app_name FROM runs`),
    selectNewestBeyond: db.prepare<[string, string, number], { seq: number }>(
      `SELECT seq FROM runs WHERE project_id = ? AND app_name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?`,
    ),
    selectFinishedUpTo: db.prepare<[string, string, number], PrunableRow>(
      `SELECT seq, id FROM runs WHERE project_id = ? AND app_name = ? AND seq <= ? AND status NOT IN ('pending', 'running')
       ORDER BY seq LIMIT ${PRUNE_BATCH}`,
    ),
    deleteRuns,
  };
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

/** A page of runs, newest first, with the filters asked for: one statement per combination, prepared once. */
export type PageStatement = (query: RunPageQuery) => SummaryRow[];

function pageStatements(db: Database.Database): PageStatement {
  const prepared = new Map<string, Database.Statement<unknown[], SummaryRow>>();
  return (query) => {
    const conditions = ['project_id = ?', 'app_name = ?', 'seq < ?'];
    const values: unknown[] = [query.projectId, query.appName, query.before ?? Number.MAX_SAFE_INTEGER];
    if (query.asyncOnly) conditions.push('async = 1');
    if (query.status !== undefined) {
      conditions.push('status = ?');
      values.push(query.status);
    }
    if (query.functionName !== undefined) {
      conditions.push('function_name = ?');
      values.push(query.functionName);
    }
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE ${conditions.join(' AND ')} ORDER BY seq DESC LIMIT ?`;
    let statement = prepared.get(sql);
    if (!statement) {
      statement = db.prepare<unknown[], SummaryRow>(sql);
      prepared.set(sql, statement);
    }
    return statement.all(...values, query.limit);
  };
}
