// A run as a row of the `runs` table, in the column names both stores use (SQLite and Postgres):
// the record of a new run, and a row read back as a StoredRun. The engines differ only in how
// values come back (SQLite: 0/1 for booleans; Postgres: BIGINT as text), which the reading folds.
import type { RunStatus } from './run.ts';
import type { NewRun, RunChange, RunSummary, StoredRun } from './run-repository.ts';

/** Columns of a list page: every one but params and result, which can be megabytes. */
export const SUMMARY_COLUMNS = `seq, id, project_id, app_name, function_name, async, method, status, status_code, created_at,
  started_at, completed_at, run_time_ms, queue_time_ms, result_truncated, error, webhook_endpoint, fault`;

/** A whole number as an engine sends it: Postgres sends BIGINT as text (it can exceed a double); every value here fits one. */
type Num = number | string;
/** A boolean as an engine sends it: SQLite has none and stores 0 or 1. */
type Bool = boolean | number;

export interface SummaryRow {
  seq: Num;
  id: string;
  project_id: string;
  app_name: string;
  function_name: string;
  async: Bool;
  method: string;
  status: RunStatus;
  status_code: number | null;
  created_at: Num;
  started_at: Num | null;
  completed_at: Num | null;
  run_time_ms: number | null;
  queue_time_ms: number | null;
  result_truncated: Bool;
  error: string | null;
  webhook_endpoint: string | null;
  fault: string | null;
}

export interface RunRow extends SummaryRow {
  params: string;
  result: string | null;
}

/** A new run's columns, with its latest state when it changed before its first write. */
export interface RunColumns {
  id: string;
  project_id: string;
  app_name: string;
  function_name: string;
  async: boolean;
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
  result_truncated: boolean;
  error: string | null;
  webhook_endpoint: string | null;
  fault: string | null;
}

const num = (value: Num | null): number | null => (value === null ? null : Number(value));

export function summaryFromRow(row: SummaryRow): RunSummary {
  return {
    seq: Number(row.seq),
    id: row.id,
    projectId: row.project_id,
    appName: row.app_name,
    functionName: row.function_name,
    async: Boolean(row.async),
    method: row.method,
    status: row.status,
    statusCode: row.status_code,
    createdAt: Number(row.created_at),
    startedAt: num(row.started_at),
    completedAt: num(row.completed_at),
    runTimeMs: row.run_time_ms,
    queueTimeMs: row.queue_time_ms,
    resultTruncated: Boolean(row.result_truncated),
    errorJson: row.error,
    webhookEndpoint: row.webhook_endpoint,
    fault: row.fault,
  };
}

export function fromRow(row: RunRow): StoredRun {
  return { ...summaryFromRow(row), paramsJson: row.params, resultJson: row.result };
}

/** A new run's record, with its latest state when it changed before the write left (a run can start and end within one). */
export function insertRecord(run: NewRun, change: RunChange | undefined): RunColumns {
  const end = change?.end;
  return {
    id: run.id,
    project_id: run.projectId,
    app_name: run.appName,
    function_name: run.functionName,
    async: run.async,
    method: run.method,
    status: change?.status ?? run.status,
    status_code: end?.statusCode ?? null,
    created_at: run.createdAt,
    started_at: change?.startedAt ?? null,
    completed_at: end?.completedAt ?? null,
    run_time_ms: end?.runTimeMs ?? null,
    queue_time_ms: change?.queueTimeMs ?? null,
    params: run.paramsJson,
    result: end?.resultJson ?? null,
    result_truncated: end?.resultTruncated ?? false,
    error: end?.errorJson ?? null,
    webhook_endpoint: run.webhookEndpoint,
    fault: run.fault ?? null,
  };
}
