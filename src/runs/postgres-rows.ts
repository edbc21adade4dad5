// Runs as Postgres rows: what a batch of writes sends (one JSON array per statement, so a batch is
// one round trip however many runs it holds). The columns themselves, and reading a row back, are
// run-rows.ts, shared with the SQLite store.
import type { RunChange } from './run-repository.ts';

/** The record type json_to_recordset reads an inserted run as. */
export const INSERT_RECORD = `r(id text, project_id text, app_name text, function_name text, async boolean, method text,
  status text, status_code integer, created_at bigint, started_at bigint, completed_at bigint, run_time_ms double precision,
  queue_time_ms double precision, params text, result text, result_truncated boolean, error text, webhook_endpoint text, fault text)`;

export const INSERT_COLUMNS = `id, project_id, app_name, function_name, async, method, status, status_code, created_at, started_at,
  completed_at, run_time_ms, queue_time_ms, params, result, result_truncated, error, webhook_endpoint, fault`;

/** The record type of a change: `done` says whether the end's fields come with it. */
export const CHANGE_RECORD = `c(id text, status text, started_at bigint, queue_time_ms double precision, done boolean,
  status_code integer, completed_at bigint, run_time_ms double precision, result text, result_truncated boolean, error text)`;

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
