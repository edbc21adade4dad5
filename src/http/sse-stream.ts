// A generator's run as Server-Sent Events. Frames are made in the replica; here they are only
// copied to the socket, one at a time, waiting for `drain` so a slow client slows the generator.
// (Written on the raw response rather than through @fastify/sse: frames arrive already encoded,
// and a pending write must end the moment the client leaves.)
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { type CerebriumLocalError, errorBody } from '../errors.ts';
import type { Run } from '../runs/run.ts';
import type { RunMetrics } from '../runs/run-metrics.ts';
import { runError } from '../runs/run-outcome.ts';
import type { StartedRun } from '../runs/run-service.ts';
import { cutAfter } from './fault-reply.ts';

export interface SseOptions {
  /** Send a comment line after this many idle ms, so proxies keep the stream open; 0 turns it off. */
  heartbeatMs: number;
  /** A client that takes nothing for this long has its stream ended and its run cancelled; 0 waits forever. */
  stallMs: number;
  exposeStack: boolean;
  /** Counts frames sent, for /metrics. */
  metrics?: RunMetrics;
}

export function acceptsEventStream(accept: string | undefined): boolean {
  return accept?.toLowerCase().includes('text/event-stream') ?? false;
}

/** Resolves once the function has started, or the run has ended without starting. */
function startedOrDone(run: Run): Promise<void> {
  if (run.status !== 'pending') return Promise.resolve();
  return new Promise((resolve) => run.once('transition', () => resolve()));
}

/** How a run's chunks become the stream's text. Only the OpenAI routes use other than the default. */
export interface SseFraming {
  /** The text for one chunk as the run delivers it; '' writes nothing. */
  frame(chunk: unknown): string;
  /** Written after the last chunk when the run succeeded. */
  end(): string;
  /** Written last when the run failed after the stream had begun. */
  error(err: CerebriumLocalError): string;
}

/** The replica already framed each chunk (started with 'sse'); failures are an `event: error`. */
const replicaFraming: SseFraming = {
  frame: (chunk) => chunk as string,
  end: () => '',
  error: (err) => `event: error\ndata: ${JSON.stringify(errorBody(err))}\n\n`,
};

/** Waits until the client has taken what was written (or left): false when it took nothing for `stallMs`. */
async function drainedWithin(res: ServerResponse, closed: Promise<void>, stallMs: number): Promise<boolean> {
  if (stallMs <= 0) {
    await Promise.race([once(res, 'drain'), closed]);
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), stallMs);
  });
  try {
    return await Promise.race([once(res, 'drain').then(() => true), closed.then(() => true), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

export async function streamRun(
  reply: FastifyReply,
  started: StartedRun,
  options: SseOptions,
  framing: SseFraming = replicaFraming,
): Promise<void> {
  const { run } = started;
  await startedOrDone(run);
  // A run that never started (queue refused, cancelled while waiting) gets a plain JSON error.
  if (run.done && run.startedAt === undefined) throw runError(run, options.exposeStack);

  const res = openEventStream(reply, run);
  const closed = once(res, 'close').then(() => undefined);
  const heartbeat = startHeartbeat(res, options.heartbeatMs);
  try {
    if (!(await copyChunks(res, closed, started, options, framing, heartbeat))) return;
    await started.settled;
    const last =
      run.status === 'failure' ? framing.error(runError(run, options.exposeStack)) : run.status === 'success' ? framing.end() : '';
    if (!res.destroyed && last !== '') res.write(last);
  } finally {
    heartbeat.stop();
    if (!res.destroyed) res.end();
  }
}

/** Takes the response from Fastify and sends the event stream's headers at once. */
function openEventStream(reply: FastifyReply, run: Run): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  // Headers set before the stream began (auth, for one) still go out.
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) res.setHeader(name, value);
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': run.id,
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  return res;
}

interface Heartbeat {
  /** Something was written: the next comment line is due `heartbeatMs` from now. */
  wrote(): void;
  stop(): void;
}

/** A comment line after `heartbeatMs` without a write (none when 0). */
function startHeartbeat(res: ServerResponse, heartbeatMs: number): Heartbeat {
  let lastWrite = Date.now();
  const timer =
    heartbeatMs > 0
      ? setInterval(
          () => {
            if (Date.now() - lastWrite >= heartbeatMs && !res.destroyed) {
              res.write(': keep-alive\n\n');
              lastWrite = Date.now();
            }
          },
          Math.max(10, Math.floor(heartbeatMs / 2)),
        )
      : undefined;
  return {
    wrote: () => {
      lastWrite = Date.now();
    },
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}

/**
 * Writes the run's chunks as they come, until the run ends, the client leaves or stalls, or an
 * injected fault cuts the stream: false then, and nothing more is written.
 */
async function copyChunks(
  res: ServerResponse,
  closed: Promise<void>,
  started: StartedRun,
  options: SseOptions,
  framing: SseFraming,
  heartbeat: Heartbeat,
): Promise<boolean> {
  const { run } = started;
  const sentEvents = options.metrics?.streamEventsOf(run);
  // drop-after=N, an injected fault: the stream is cut once N events are out (Infinity for every other stream).
  let eventsLeft = run.fault?.dropAfter ?? Number.POSITIVE_INFINITY;
  if (eventsLeft === 0) return cutStream(res, '');
  for await (const batch of started.chunkBatches()) {
    if (res.destroyed) break;
    // Frames that arrived together leave in one write.
    let frames = '';
    let count = 0;
    for (const chunk of batch) {
      const frame = framing.frame(chunk);
      if (frame === '') continue;
      frames += frame;
      count += 1;
      if (--eventsLeft === 0) break;
    }
    if (frames === '') continue;
    // Counted once a batch: each inc of a labelled child hashes its labels again.
    sentEvents?.inc(count);
    heartbeat.wrote();
    if (eventsLeft === 0) return cutStream(res, frames);
    if (!res.write(frames) && !(await drainedWithin(res, closed, options.stallMs))) {
      // A client that stopped reading would hold the socket, the run and a shutdown forever.
      run.requestCancel(`The client read nothing of the stream for ${options.stallMs} ms (--stream-stall-ms)`);
      res.destroy();
      break;
    }
  }
  return true;
}

/** Writes the last frames, then cuts the connection; false, for `copyChunks`: the stream is over. */
async function cutStream(res: ServerResponse, frames: string): Promise<false> {
  await cutAfter(res, frames);
  return false;
}
