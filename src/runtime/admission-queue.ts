// Capacity of one app as permits: max_replicas × replica_concurrency runs at once. Callers past
// that wait in FIFO order, up to two bounds: how many wait, and how many bytes of params the waiting
// runs hold (a queue of large bodies is memory nothing else bounds). Past either bound they are
// turned away at once. Bytes count only while a run waits, not once it runs.

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

interface Waiter {
  grant: () => void;
  bytes: number;
}

export class AdmissionQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private bytesWaiting = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxWaiting: number,
    private readonly maxWaitingBytes = Number.POSITIVE_INFINITY,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Bytes of params held by the runs waiting now. */
  get waitingBytes(): number {
    return this.bytesWaiting;
  }

  /** No permit free and no room left to wait for one. */
  get full(): boolean {
    return this.fullFor(0);
  }

  /** No permit free and no room left for a run of `bytes` of params to wait for one. */
  fullFor(bytes: number): boolean {
    return this.active >= this.capacity && this.refusal(bytes) !== undefined;
  }

  /** Why a run of `bytes` could not wait now; undefined when it can. */
  private refusal(bytes: number): string | undefined {
    if (this.waiters.length >= this.maxWaiting) return `${this.waiters.length} runs are already waiting`;
    // One run may always wait, however large, or a body above the bound could never be queued.
    if (this.waiters.length > 0 && this.bytesWaiting + bytes > this.maxWaitingBytes) {
      return `the runs already waiting hold ${this.bytesWaiting} bytes of params`;
    }
    return undefined;
  }

  /**
   * Resolves when the caller may run; rejects if the queue is full or `signal` aborts first.
   * `bytes`: the size of the run's params, counted while it waits.
   */
  acquire(signal: AbortSignal, bytes = 0): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.active < this.capacity && this.waiters.length === 0) {
      this.active += 1;
      return Promise.resolve();
    }
    const refused = this.refusal(bytes);
    if (refused !== undefined) return Promise.reject(new QueueFullError(refused));
    this.bytesWaiting += bytes;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) {
          this.waiters.splice(at, 1);
          this.bytesWaiting -= bytes;
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      this.bytesWaiting -= next.bytes;
      next.grant();
    } else this.active -= 1;
    if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves when no run holds or waits for a permit. */
  idle(): Promise<void> {
    if (this.active === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
