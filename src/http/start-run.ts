// What every route that calls a function does around the run, so /v4 invoke and the OpenAI routes
// cannot drift apart: resolve the function, check the body against its schema, make the Run (logged,
// stored, webhook armed), then run it in the background or for the caller waiting on this request.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { AppFunction, AppRegistry, LoadedApp } from '../apps/app-registry.ts';
import { badRequest, invalidParams } from '../errors.ts';
import type { RunExecution } from '../runtime/app-runtime.ts';
import { Run } from '../runs/run.ts';
import { logRunOutcome } from '../runs/run-log.ts';
import type { RunMetrics } from '../runs/run-metrics.ts';
import type { RunStore } from '../runs/run-store.ts';
import { parseWebhookEndpoint, type WebhookSender } from '../runs/webhooks.ts';
import type { ChunkEncoding } from '../worker/protocol.ts';
import { bodyAsParams } from './json-body.ts';
import { resolveFunction } from './resolve-function.ts';
import { cancelWhenCallerLeaves } from './run-reply.ts';

export interface FunctionPath {
  projectId: string;
  appName: string;
  functionName: string;
}

export interface RunQuery {
  /** "true": answer 202 {run_id} at once and run in the background. */
  async?: string;
  /** Where the outcome is POSTed when the run ends. */
  webhookEndpoint?: string;
}

export interface FunctionRoute {
  Params: FunctionPath;
  Querystring: RunQuery;
}

export interface RunDeps {
  registry: AppRegistry;
  runLog: Logger;
  runStore: RunStore;
  webhooks: WebhookSender;
  metrics?: RunMetrics;
}

export interface CreatedRun {
  app: LoadedApp;
  fn: AppFunction;
  run: Run;
}

/** The Run a request asks for, or the 404 / 400 / 422 / 429 that says why there is none. */
export function createRun(request: FastifyRequest<FunctionRoute>, reply: FastifyReply, deps: RunDeps): CreatedRun {
  const { projectId, appName, functionName } = request.params;
  const { app, fn } = resolveFunction(deps.registry, appName, functionName);
  const params = bodyAsParams(request.body);
  const problems = fn.validateParams?.(params) ?? [];
  if (problems.length > 0) throw invalidParams(problems);
  const runAsync = asyncFlag(request.query.async);
  const webhookEndpoint =
    request.query.webhookEndpoint === undefined ? undefined : parseWebhookEndpoint(request.query.webhookEndpoint);

  app.runtime.assertCanAccept();
  const run = new Run({ projectId, appName, functionName, params, async: runAsync, webhookEndpoint });
  logRunOutcome(run, deps.runLog);
  deps.metrics?.observe(run);
  deps.runStore.track(run);
  if (webhookEndpoint) deps.webhooks.sendWhenDone(run, { url: webhookEndpoint, secret: webhookSecret(request.headers) });
  reply.header('x-request-id', run.id);
  return { app, fn, run };
}

/** Answers 202 {run_id} and runs it with the same runtime and limits; the store (and webhook) get the outcome. */
export function runInBackground(reply: FastifyReply, { app, run }: CreatedRun, runLog: Logger): FastifyReply {
  app.runtime.execute(run, false).settled.catch((err: unknown) => runLog.error({ err, run_id: run.id }, 'async run failed'));
  return reply.code(202).send({ run_id: run.id });
}

/** Runs it for the caller of this request; a caller who leaves before the answer cancels it. */
export function runForCaller(reply: FastifyReply, { app, run }: CreatedRun, stream: ChunkEncoding | false): RunExecution {
  const execution = app.runtime.execute(run, stream);
  cancelWhenCallerLeaves(reply, run);
  return execution;
}

/** `?async=`: true or false (1 or 0); anything else is a mistake worth saying, not a sync call. */
function asyncFlag(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw badRequest('invalid_async', `async must be true or false, got "${value}"`);
}

function webhookSecret(headers: IncomingHttpHeaders): string | undefined {
  const secret = headers['x-webhook-secret'];
  return typeof secret === 'string' && secret !== '' ? secret : undefined;
}
