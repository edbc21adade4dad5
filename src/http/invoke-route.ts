// POST /v4/:projectId/:appName/:functionName — the real service's invoke endpoint.
import type { FastifyInstance } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { sendRunResult } from './run-reply.ts';
import { acceptsEventStream, streamRun, type SseOptions } from './sse-stream.ts';
import { createRun, runForCaller, runInBackground, type FunctionRoute, type RunDeps } from './start-run.ts';

export interface InvokeRouteOptions extends RunDeps {
  sse: SseOptions;
}

export function registerInvokeRoute(server: FastifyInstance, options: InvokeRouteOptions): void {
  const { runLog, sse } = options;

  server.post<FunctionRoute>('/v4/:projectId/:appName/:functionName', async (request, reply) => {
    const created = createRun(request, reply, options);
    if (created.run.async) return runInBackground(reply, created, runLog);

    const streaming = created.fn.kind !== 'function' && acceptsEventStream(request.headers.accept);
    const execution = runForCaller(reply, created, streaming ? 'sse' : false);
    if (streaming) return streamRun(reply, created.run, execution, sse);

    await execution.settled;
    return sendRunResult(reply, created.run, sse.exposeStack);
  });

  // Functions are only ever POSTed to; say so rather than "no route".
  server.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/v4/:projectId/:appName/:functionName',
    handler: async (request) => {
      const err = new CerebriumLocalError(
        405,
        'invalid_request_error',
        'method_not_allowed',
        `Functions are called with POST, not ${request.method}`,
      );
      err.headers = { allow: 'POST' };
      throw err;
    },
  });
}
