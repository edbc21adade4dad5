// The faults the HTTP layer carries out: `reset` (the connection destroyed instead of answered)
// and reading the x-cerebrium-local-fault header. drop-after is sse-stream.ts's own.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { FAULT_HEADER } from '../faults/fault-injector.ts';
import type { StartedRun } from '../runs/run-service.ts';

/** The header's value when sent once (twice: the values joined, as directives are). */
export function faultHeader(headers: IncomingHttpHeaders): string | undefined {
  const value = headers[FAULT_HEADER];
  return Array.isArray(value) ? value.join(';') : value;
}

/** Destroys the caller's connection without a byte of answer: what a reset by a gateway looks like. */
export function resetConnection(reply: FastifyReply): FastifyReply {
  reply.hijack();
  reply.raw.socket?.destroy();
  reply.raw.destroy();
  return reply;
}

/**
 * `reset` on a call that waits: the run goes on to its end (its chunks taken and dropped), then
 * the connection is destroyed instead of answered. So the function ran and the caller never
 * knew: the case a client must not blindly retry.
 */
export async function resetWhenSettled(reply: FastifyReply, started: StartedRun): Promise<FastifyReply> {
  if (started.stream) for await (const _batch of started.chunkBatches());
  await started.settled;
  return resetConnection(reply);
}

/**
 * drop-after: writes the stream's last `frames`, and once they have left, destroys the connection:
 * no final event, no end of the chunked body, as when a stream dies on the way.
 */
export function cutAfter(res: ServerResponse, frames: string): Promise<void> {
  return new Promise((resolve) => {
    const cut = () => {
      res.destroy();
      resolve();
    };
    if (frames === '') cut();
    else res.write(frames, cut);
  });
}
