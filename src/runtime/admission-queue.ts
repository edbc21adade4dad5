// Capacity of one app as permits: max_replicas × replica_concurrency runs at once. Callers past
// that wait in FIFO order, up to a bound; past the bound they are turned away at once.

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

interface Waiter {
  grant: () => void;
}

export class AdmissionQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly capacity: number,
    private readonly maxWaiting: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** No permit free and no room left to wait for one. */
  get full(): boolean {
    return this.active >= this.capacity && this.waiters.length >= this.maxWaiting;
  }

  /** Resolves when the caller may run; rejects if the queue is full or `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.active < this.capacity && this.waiters.length === 0) {
      this.active += 1;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxWaiting) {
      return Promise.reject(new QueueFullError(`${this.waiters.length} runs are already waiting`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.active -= 1;
    if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves when no run holds or waits for a permit. */
  idle(): Promise<void> {
    if (this.active === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
