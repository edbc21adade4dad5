// POST /v4/:projectId/:appName/:functionName — the real service's invoke endpoint.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AppRegistry } from '../apps/app-registry.ts';
import { invalidParams } from '../errors.ts';
import { Run } from '../runs/run.ts';
import { logRunOutcome } from '../runs/run-log.ts';
import { bodyAsParams } from './json-body.ts';
import { resolveFunction } from './resolve-function.ts';
import { cancelWhenCallerLeaves, sendRunResult } from './run-reply.ts';
import { acceptsEventStream, streamRun, type SseOptions } from './sse-stream.ts';

interface InvokeParams {
  projectId: string;
  appName: string;
  functionName: string;
}

export interface InvokeRouteOptions {
  registry: AppRegistry;
  runLog: Logger;
  sse: SseOptions;
}

export function registerInvokeRoute(server: FastifyInstance, options: InvokeRouteOptions): void {
  const { registry, runLog, sse } = options;

  server.post<{ Params: InvokeParams }>('/v4/:projectId/:appName/:functionName', async (request, reply) => {
    const { projectId, appName, functionName } = request.params;
    const { app, fn } = resolveFunction(registry, appName, functionName);
    const params = bodyAsParams(request.body);
    const problems = fn.validateParams?.(params) ?? [];
    if (problems.length > 0) throw invalidParams(problems);

    app.runtime.assertCanAccept();
    const run = new Run({ projectId, appName, functionName, params });
    logRunOutcome(run, runLog);
    reply.header('x-request-id', run.id);

    const streaming = fn.kind !== 'function' && acceptsEventStream(request.headers.accept);
    const execution = app.runtime.execute(run, streaming ? 'sse' : false);
    cancelWhenCallerLeaves(reply, run);
    if (streaming) return streamRun(reply, run, execution, sse);

    await execution.settled;
    return sendRunResult(reply, run, sse.exposeStack);
  });
}
