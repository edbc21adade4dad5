// POST /v4/:projectId/:appName/:functionName — the real service's invoke endpoint.
import type { FastifyInstance } from 'fastify';
import type { RunService } from '../runs/run-service.ts';
import { resetWhenSettled } from './fault-reply.ts';
import { acceptAsync, sendRunResult, startForCaller } from './run-reply.ts';
import { type FunctionRoute, parseRunRequest } from './run-request.ts';
import { acceptsEventStream, type SseOptions, streamRun } from './sse-stream.ts';

export interface InvokeRouteOptions {
  runs: RunService;
  sse: SseOptions;
}

export function registerInvokeRoute(server: FastifyInstance, { runs, sse }: InvokeRouteOptions): void {
  server.post<FunctionRoute>('/v4/:projectId/:appName/:functionName', async (request, reply) => {
    const { request: runRequest, async } = await parseRunRequest(request, runs);
    if (async) return acceptAsync(reply, runs, runRequest);

    const wantsEvents = acceptsEventStream(request.headers.accept);
    const started = startForCaller(reply, runs, runRequest, (fn) => (fn.kind !== 'function' && wantsEvents ? 'sse' : false));
    if (runRequest.fault?.reset) return resetWhenSettled(reply, started);
    if (started.stream) return streamRun(reply, started, sse);

    await started.settled;
    return sendRunResult(reply, started.run, sse.exposeStack);
  });
  // Other methods on this path are forward-route.ts's (405 for functions, forwarded for custom runtimes).
}
