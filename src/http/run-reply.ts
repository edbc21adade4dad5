// A finished run → the response of the real service: {run_id, result, run_time_ms} in that order,
// or the error envelope.
import type { FastifyReply } from 'fastify';
import { CerebriumLocalError, functionFailed } from '../errors.ts';
import type { Run } from '../runs/run.ts';
import type { RunOutcome } from '../runs/run-outcome.ts';
import { errorBody } from './error-handler.ts';

/** run_time_ms as the real service shows it: a float, here to the microsecond. */
export const roundMs = (ms: number | undefined) => Math.round((ms ?? 0) * 1000) / 1000;

/** The error a caller gets for a run that did not succeed. */
export function runError(run: Run, exposeStack: boolean): CerebriumLocalError {
  let err: CerebriumLocalError;
  if (run.status === 'cancelled') {
    err = new CerebriumLocalError(500, 'function_error', 'run_cancelled', `The run was cancelled: ${run.error?.message ?? ''}`);
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

export function sendRunResult(reply: FastifyReply, run: Run, exposeStack: boolean): FastifyReply {
  if (run.status !== 'success') throw runError(run, exposeStack);
  return reply
    .code(run.statusCode ?? 200)
    .type('application/json; charset=utf-8')
    .send(resultBody(run));
}

/** A finished run's status and body exactly as a sync caller gets them, for webhooks and the run store. */
export function runOutcome(run: Run, exposeStack: boolean): RunOutcome {
  if (run.status === 'success') return { statusCode: run.statusCode ?? 200, body: resultBody(run) };
  const err = runError(run, exposeStack);
  const body = errorBody(err, run.id);
  return { statusCode: err.statusCode, body: JSON.stringify(body), error: body.error };
}

/** Cancels the run when the caller goes away before its answer is sent. */
export function cancelWhenCallerLeaves(reply: FastifyReply, run: Run): void {
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) run.requestCancel('The caller disconnected');
  });
}
