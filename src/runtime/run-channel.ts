// The server's end of one run: it hears the replica start, holds a generator's chunks until the
// caller takes them one by one (handing credit back as they are taken, which is the backpressure),
// and receives the result last. It knows nothing of threads or processes: a backend feeds it.
import { CHUNK_CREDIT_BATCH, type RunLogLine, type RunResult } from '../replica-protocol.ts';
import type { RunListener } from './replica-backend.ts';

/** Credits go back in batches, so the replica is not woken for every chunk. */
export const CREDIT_BATCH = CHUNK_CREDIT_BATCH;

export class RunChannel implements RunListener {
  readonly ended: Promise<RunResult>;
  private readonly buffer: unknown[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private taken = 0;
  private resolveEnd!: (result: RunResult) => void;

  /**
   * @param onStarted called once the function has begun on a replica.
   * @param credit gives the replica `n` more chunks of room.
   * @param onLogs hears the lines the function logged, as they come.
   */
  constructor(
    private readonly onStarted: () => void,
    private readonly credit: (n: number) => void,
    private readonly onLogs?: (lines: RunLogLine[]) => void,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  started(): void {
    this.onStarted();
  }

  chunks(data: unknown[]): void {
    for (const chunk of data) this.buffer.push(chunk);
    this.notify();
  }

  logs(lines: RunLogLine[]): void {
    if (!this.finished) this.onLogs?.(lines);
  }

  /** The run's result; the first one counts (a replica's end, or the backend's crash notice). */
  end(result: RunResult): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveEnd(result);
    this.notify();
  }

  /** Yields each chunk as the replica sends it; ends when the run ends. */
  async *take(): AsyncGenerator<unknown, void, undefined> {
    for (;;) {
      if (this.buffer.length > 0) {
        const chunk = this.buffer.shift();
        this.account(1);
        yield chunk;
        continue;
      }
      if (this.finished) return;
      await this.arrival();
    }
  }

  /**
   * Yields every chunk that has arrived since the last take, at once (a fast stream then costs one
   * promise per batch, not per chunk); ends when the run ends. Credit goes back as for take().
   */
  async *takeBatches(): AsyncGenerator<unknown[], void, undefined> {
    for (;;) {
      if (this.buffer.length > 0) {
        const batch = this.buffer.splice(0);
        this.account(batch.length);
        yield batch;
        continue;
      }
      if (this.finished) return;
      await this.arrival();
    }
  }

  /** `n` more chunks were taken: credit goes back to the replica a batch at a time. */
  private account(n: number): void {
    this.taken += n;
    if (this.taken >= CREDIT_BATCH && !this.finished) {
      this.credit(this.taken);
      this.taken = 0;
    }
  }

  private arrival(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
