// POST /v4/:projectId/:appName/:functionName — the real service's invoke endpoint.
import type { FastifyInstance } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import type { RunService } from '../runs/run-service.ts';
import { acceptAsync, sendRunResult, startForCaller } from './run-reply.ts';
import { type FunctionRoute, parseRunRequest } from './run-request.ts';
import { acceptsEventStream, type SseOptions, streamRun } from './sse-stream.ts';

export interface InvokeRouteOptions {
  runs: RunService;
  sse: SseOptions;
}

export function registerInvokeRoute(server: FastifyInstance, { runs, sse }: InvokeRouteOptions): void {
  server.post<FunctionRoute>('/v4/:projectId/:appName/:functionName', async (request, reply) => {
    const { request: runRequest, async } = parseRunRequest(request);
    if (async) return acceptAsync(reply, runs, runRequest);

    const wantsEvents = acceptsEventStream(request.headers.accept);
    const started = startForCaller(reply, runs, runRequest, (fn) => (fn.kind !== 'function' && wantsEvents ? 'sse' : false));
    if (started.stream) return streamRun(reply, started, sse);

    await started.settled;
    return sendRunResult(reply, started.run, sse.exposeStack);
  });

  // Functions are only ever POSTed to; say so rather than "no route".
  server.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/v4/:projectId/:appName/:functionName',
    handler: async (request) => {
      const err = new CerebriumLocalError('method_not_allowed', `Functions are called with POST, not ${request.method}`);
      err.headers = { allow: 'POST' };
      throw err;
    },
  });
}
