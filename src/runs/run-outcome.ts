// What a finished run answered: the body and status a sync caller gets. The caller's reply, the
// webhook and the run store all take it from here, so the three can never disagree.
import { CerebriumLocalError, errorBody, functionFailed } from '../errors.ts';
import { injectedFailure } from '../faults/fault-errors.ts';
import type { Run } from './run.ts';

export interface RunOutcome {
  /** The HTTP status the caller got (or would have got, for an async run). */
  statusCode: number;
  /** The response body as JSON text: `{run_id, result, run_time_ms}` or the error envelope. */
  body: string;
  /** The envelope's `error` object, when the run did not succeed. */
  error?: Record<string, unknown>;
}

export type DescribeOutcome = (run: Run) => RunOutcome;

/** run_time_ms as the real service shows it: a float, here to the microsecond. */
export const roundMs = (ms: number | undefined) => Math.round((ms ?? 0) * 1000) / 1000;

/** The error a caller gets for a run that did not succeed. */
export function runError(run: Run, exposeStack: boolean): CerebriumLocalError {
  let err: CerebriumLocalError;
  if (run.status === 'cancelled') {
    err = new CerebriumLocalError('run_cancelled', `The run was cancelled: ${run.error?.message ?? ''}`);
  } else if (run.error?.injectedStatus !== undefined) {
    err = injectedFailure(run.error.injectedStatus, run.error.message);
  } else {
    err = functionFailed(run.error ?? { name: 'Error', message: 'The run failed' }, exposeStack);
  }
  err.runId = run.id;
  return err;
}

/** The body of a successful run, as JSON text. */
export function resultBody(run: Run): string {
  // The result is JSON text made in the replica; splicing it in keeps the key order and spares
  // the server thread a parse and a stringify.
  return `{"run_id":${JSON.stringify(run.id)},"result":${run.resultJson},"run_time_ms":${roundMs(run.runTimeMs)}}`;
}

/** A finished run's status and body exactly as a sync caller gets them. */
export function runOutcome(run: Run, exposeStack: boolean): RunOutcome {
  if (run.status === 'success') return { statusCode: run.statusCode ?? 200, body: resultBody(run) };
  const err = runError(run, exposeStack);
  const body = errorBody(err, run.id);
  return { statusCode: err.statusCode, body: JSON.stringify(body), error: body.error };
}
