// A generator's run as Server-Sent Events. Frames are made in the replica; here they are only
// copied to the socket, one at a time, waiting for `drain` so a slow client slows the generator.
// (Written on the raw response rather than through @fastify/sse: frames arrive already encoded,
// and a pending write must end the moment the client leaves.)
import { once } from 'node:events';
import type { FastifyReply } from 'fastify';
import type { Run } from '../runs/run.ts';
import type { RunExecution } from '../runtime/app-runtime.ts';
import { errorBody } from './error-handler.ts';
import { runError } from './run-reply.ts';

export interface SseOptions {
  /** Send a comment line after this many idle ms, so proxies keep the stream open; 0 turns it off. */
  heartbeatMs: number;
  exposeStack: boolean;
}

export function acceptsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && accept.toLowerCase().includes('text/event-stream');
}

/** Resolves once the function has started, or the run has ended without starting. */
function startedOrDone(run: Run): Promise<void> {
  if (run.status !== 'pending') return Promise.resolve();
  return new Promise((resolve) => run.once('transition', () => resolve()));
}

export async function streamRun(reply: FastifyReply, run: Run, execution: RunExecution, options: SseOptions): Promise<void> {
  await startedOrDone(run);
  // A run that never started (queue refused, cancelled while waiting) gets a plain JSON error.
  if (run.done && run.startedAt === undefined) throw runError(run, options.exposeStack);

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': run.id,
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();

  const closed = once(res, 'close').then(() => undefined);
  let lastWrite = Date.now();
  const heartbeat =
    options.heartbeatMs > 0
      ? setInterval(() => {
          if (Date.now() - lastWrite >= options.heartbeatMs && !res.destroyed) {
            res.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
        }, Math.max(10, Math.floor(options.heartbeatMs / 2)))
      : undefined;

  try {
    for await (const frame of execution.chunks()) {
      if (res.destroyed) break;
      lastWrite = Date.now();
      if (!res.write(frame as string)) await Promise.race([once(res, 'drain'), closed]);
    }
    await execution.settled;
    if (!res.destroyed && run.status === 'failure') {
      res.write(`event: error\ndata: ${JSON.stringify(errorBody(runError(run, options.exposeStack)))}\n\n`);
    }
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    if (!res.destroyed) res.end();
  }
}
