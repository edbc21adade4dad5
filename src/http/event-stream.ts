// Server-Sent Events made on the server (a run's log lines, run transitions), written on the raw
// response. Unlike a generator's stream nothing upstream can wait for this client, so a client
// that stops reading is dropped once too much waits for it (it can reconnect), rather than
// buffering without bound.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** Bytes written and not yet taken by the client past which the stream is ended. */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

export class EventStream {
  private readonly res: ServerResponse;
  private readonly cleanups: Array<() => void> = [];
  private ended = false;

  /** Takes the reply over and sends the stream's head; `heartbeatMs` 0 sends no keep-alive comments. */
  constructor(reply: FastifyReply, heartbeatMs: number) {
    reply.hijack();
    this.res = reply.raw;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A first comment, so the client's fetch resolves at once even before the first event.
    this.res.write(': open\n\n');
    this.res.on('close', () => this.end());
    if (heartbeatMs > 0) {
      const timer = setInterval(() => this.write(': keep-alive\n\n'), heartbeatMs);
      this.onEnd(() => clearInterval(timer));
    }
  }

  get open(): boolean {
    return !this.ended;
  }

  /** Runs `cleanup` when the stream ends, by either side. */
  onEnd(cleanup: () => void): void {
    if (this.ended) cleanup();
    else this.cleanups.push(cleanup);
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (!this.res.writableEnded) this.res.end();
  }

  private write(text: string): void {
    if (this.ended) return;
    if (this.res.writableLength > MAX_UNREAD_BYTES) {
      this.end();
      return;
    }
    this.res.write(text);
  }
}
