// A finished run → the response of the real service: {run_id, result, run_time_ms} in that order,
// or the error envelope (thrown, for the error handler to send).
import type { FastifyReply } from 'fastify';
import type { Run } from '../runs/run.ts';
import { resultBody, runError } from '../runs/run-outcome.ts';
import type { RunRequest, RunService, StartedRun, StreamChoice } from '../runs/run-service.ts';
import { resetConnection } from './fault-reply.ts';

export function sendRunResult(reply: FastifyReply, run: Run, exposeStack: boolean): FastifyReply {
  if (run.status !== 'success') throw runError(run, exposeStack);
  return reply
    .code(run.statusCode ?? 200)
    .type('application/json; charset=utf-8')
    .send(resultBody(run));
}

/** Cancels the run when the caller goes away before its answer is sent. */
export function cancelWhenCallerLeaves(reply: FastifyReply, run: Run): void {
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) run.requestCancel('The caller disconnected');
  });
}

/** `?async=true`: starts the run in the background and answers 202 {run_id} once it is recorded. */
export async function acceptAsync(reply: FastifyReply, service: RunService, request: RunRequest): Promise<FastifyReply> {
  const run = await service.submitAsync(request);
  if (request.fault?.reset) return resetConnection(reply);
  return reply.header('x-request-id', run.id).code(202).send({ run_id: run.id });
}

/** Starts the run for the caller of this request; a caller who leaves before the answer cancels it. */
export function startForCaller(reply: FastifyReply, service: RunService, request: RunRequest, streamFor?: StreamChoice): StartedRun {
  const started = service.start(request, streamFor);
  reply.header('x-request-id', started.run.id);
  cancelWhenCallerLeaves(reply, started.run);
  return started;
}
