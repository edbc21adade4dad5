// Runs as Postgres rows: what a batch of writes sends (one JSON array per statement, so a batch is
// one round trip however many runs it holds) and how a row read back becomes a StoredRun.
import type { RunStatus } from './run.ts';
import type { NewRun, RunChange, RunSummary, StoredRun } from './run-repository.ts';

/** A run's writes waiting for the next batch: its new record and its latest change (which carries its whole state). */
export interface PendingRunWrite {
  insert?: NewRun;
  change?: RunChange;
}

/** Columns of a list page: every one but params and result, which can be megabytes. */
export const SUMMARY_COLUMNS = `seq, id, project_id, app_name, function_name, async, method, status, status_code, created_at,
  started_at, completed_at, run_time_ms, queue_time_ms, result_truncated, error, webhook_endpoint, fault`;

/** The record type json_to_recordset reads an inserted run as. */
export const INSERT_RECORD = `r(id text, project_id text, app_name text, function_name text, async boolean, method text,
  status text, status_code integer, created_at bigint, started_at bigint, completed_at bigint, run_time_ms double precision,
  queue_time_ms double precision, params text, result text, result_truncated boolean, error text, webhook_endpoint text, fault text)`;

export const INSERT_COLUMNS = `id, project_id, app_name, function_name, async, method, status, status_code, created_at, started_at,
  completed_at, run_time_ms, queue_time_ms, params, result, result_truncated, error, webhook_endpoint, fault`;

/** The record type of a change: `done` says whether the end's fields come with it. */
export const CHANGE_RECORD = `c(id text, status text, started_at bigint, queue_time_ms double precision, done boolean,
  status_code integer, completed_at bigint, run_time_ms double precision, result text, result_truncated boolean, error text)`;

/** Postgres sends BIGINT as text (it can exceed a double); every value here fits one. */
type Num = number | string;

export interface SummaryRow {
  seq: Num;
  id: string;
  project_id: string;
  app_name: string;
  function_name: string;
  async: boolean;
  method: string;
  status: RunStatus;
  status_code: number | null;
  created_at: Num;
  started_at: Num | null;
  completed_at: Num | null;
  run_time_ms: number | null;
  queue_time_ms: number | null;
  result_truncated: boolean;
  error: string | null;
  webhook_endpoint: string | null;
  fault: string | null;
}

export interface RunRow extends SummaryRow {
  params: string;
  result: string | null;
}

const num = (value: Num | null): number | null => (value === null ? null : Number(value));

export function summaryFromRow(row: SummaryRow): RunSummary {
  return {
    seq: Number(row.seq),
    id: row.id,
    projectId: row.project_id,
    appName: row.app_name,
    functionName: row.function_name,
    async: row.async,
    method: row.method,
    status: row.status,
    statusCode: row.status_code,
    createdAt: Number(row.created_at),
    startedAt: num(row.started_at),
    completedAt: num(row.completed_at),
    runTimeMs: row.run_time_ms,
    queueTimeMs: row.queue_time_ms,
    resultTruncated: row.result_truncated,
    errorJson: row.error,
    webhookEndpoint: row.webhook_endpoint,
    fault: row.fault,
  };
}

export function fromRow(row: RunRow): StoredRun {
  return { ...summaryFromRow(row), paramsJson: row.params, resultJson: row.result };
}

/** A new run's row, with its latest state when it changed before the batch left. */
export function insertRecord(run: NewRun, change: RunChange | undefined): Record<string, unknown> {
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

export function changeRecord(change: RunChange): Record<string, unknown> {
  const end = change.end;
  return {
    id: change.id,
    status: change.status,
    started_at: change.startedAt,
    queue_time_ms: change.queueTimeMs,
    done: end !== undefined,
    status_code: end?.statusCode ?? null,
    completed_at: end?.completedAt ?? null,
    run_time_ms: end?.runTimeMs ?? null,
    result: end?.resultJson ?? null,
    result_truncated: end?.resultTruncated ?? false,
    error: end?.errorJson ?? null,
  };
}
