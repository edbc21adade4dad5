// The server's end of one run's MessagePort: it learns when the function starts, receives a
// generator's chunks, hands them out one by one (refilling the replica's credit as they are
// taken, which is the backpressure), and receives the result last.
import type { MessagePort } from 'node:worker_threads';
import { CHUNK_CREDIT_WINDOW, type ReplicaMessage, type RunResult, type ServerMessage } from '../worker/protocol.ts';

type Incoming = ReplicaMessage | { type: 'end'; result: RunResult };

/** Credits go back in batches, so the replica is not woken for every chunk. */
const CREDIT_BATCH = Math.max(1, CHUNK_CREDIT_WINDOW / 4);

export class RunChannel {
  readonly ended: Promise<RunResult>;
  private readonly port: MessagePort;
  private readonly buffer: unknown[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private taken = 0;
  private resolveEnd!: (result: RunResult) => void;

  constructor(port: MessagePort, onStarted: (threadId: number, nativeCalls?: Int32Array) => void) {
    this.port = port;
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
    port.on('message', (message: Incoming) => {
      switch (message.type) {
        case 'started':
          onStarted(message.threadId, message.nativeCalls);
          break;
        case 'chunks':
          for (const chunk of message.data) this.buffer.push(chunk);
          this.notify();
          break;
        case 'end':
          this.finished = true;
          this.resolveEnd(message.result);
          this.notify();
          port.close();
          break;
      }
    });
  }

  /** Tells the function to stop through its ctx.signal. */
  abort(reason: string): void {
    this.send({ type: 'abort', reason });
  }

  /** Yields each chunk as the replica sends it; ends when the run ends. */
  async *chunks(): AsyncGenerator<unknown, void, undefined> {
    for (;;) {
      if (this.buffer.length > 0) {
        const chunk = this.buffer.shift();
        this.taken += 1;
        if (this.taken >= CREDIT_BATCH) {
          this.send({ type: 'credit', n: this.taken });
          this.taken = 0;
        }
        yield chunk;
        continue;
      }
      if (this.finished) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Ends the channel from this side (the replica died): pending readers see the end. */
  close(result: RunResult): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveEnd(result);
    this.notify();
    this.port.close();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private send(message: ServerMessage): void {
    if (!this.finished) this.port.postMessage(message);
  }
}
