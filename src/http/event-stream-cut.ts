// drop-after=N on a custom runtime's answer: the replica's text/event-stream is passed on event by
// event, and once N events are out the connection is destroyed: no later event, no end of the
// chunked body, as when a stream dies on the way. The replica framed the events, so they are
// counted here from its bytes: an event ends at a blank line, and a block of comments only
// (": keep-alive") is not one.
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { FastifyReply } from 'fastify';
import { cutAfter } from './fault-reply.ts';

const BLANK_LINE = /\r\n\r\n|\n\n|\r\r/g;

/** Whether a replica's answer is an event stream (the only kind drop-after cuts). */
export function isEventStream(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.toLowerCase().startsWith('text/event-stream');
}

/** Counts events in a stream's text, handing back whole events only, up to the Nth. */
export class EventCounter {
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(private left: number) {}

  /** What may be written now: the events `chunk` completes (up to the Nth); `cut` once the Nth is among them. */
  push(chunk: Buffer | string): { text: string; cut: boolean } {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let end = 0;
    BLANK_LINE.lastIndex = 0;
    for (let match = BLANK_LINE.exec(this.pending); match; match = BLANK_LINE.exec(this.pending)) {
      const block = this.pending.slice(end, match.index);
      end = match.index + match[0].length;
      if (isEvent(block) && --this.left === 0) return { text: this.pending.slice(0, end), cut: true };
    }
    const text = this.pending.slice(0, end);
    this.pending = this.pending.slice(end);
    return { text, cut: false };
  }

  /** What was held back of an unfinished event, once the stream has ended. */
  rest(): string {
    return this.pending + this.decoder.end();
  }
}

function isEvent(block: string): boolean {
  return block.split(/\r\n|\n|\r/).some((line) => line !== '' && !line.startsWith(':'));
}

export interface StreamAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/**
 * Sends the answer's head and its first `events` events, then destroys the connection. `onCut`
 * runs just before the cut (the run is cancelled there, so it is recorded as the caller leaving,
 * as a cut function stream is). A stream that ends before N events is passed on whole.
 */
export async function cutEventStreamAfter(
  reply: FastifyReply,
  answer: StreamAnswer,
  events: number,
  onCut: () => void,
): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  // Headers set before (x-request-id, auth's) go out with the replica's own.
  for (const [name, value] of Object.entries({ ...reply.getHeaders(), ...answer.headers })) {
    if (value !== undefined) res.setHeader(name, value);
  }
  res.writeHead(answer.statusCode);
  res.flushHeaders();
  const counter = new EventCounter(events);
  if (events === 0) {
    onCut();
    await cutAfter(res, '');
    return reply;
  }
  for await (const chunk of answer.body) {
    const { text, cut } = counter.push(chunk as Buffer);
    if (cut) {
      onCut();
      await cutAfter(res, text);
      return reply;
    }
    // Backpressure: the replica is read no faster than the caller reads.
    if (text !== '' && !res.write(text)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    if (res.destroyed) return reply;
  }
  res.end(counter.rest());
  return reply;
}
