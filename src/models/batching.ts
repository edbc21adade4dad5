// Batching for any function: calls that arrive together on one replica are gathered into one call
// with an array, and each caller gets its own element back.
//
//   export const score = batched({ maxBatchSize: 32, maxWaitMs: 5 }, async (inputs: Params[]) => {
//     return inputs.map((p) => (p.ok ? compute(p) : new Error('bad input')));
//   });
//
// The contract:
// - A batch runs when it has maxBatchSize inputs, or maxWaitMs after its oldest input arrived.
//   One batch runs at a time per batched function per replica; inputs that arrive meanwhile gather
//   for the next one (so under load batches fill up while the model is busy).
// - `fn` gets the inputs in arrival order and returns an array of the same length: element i is
//   caller i's result, or an Error that fails caller i alone. If `fn` throws, or returns the wrong
//   number of elements, every caller of that batch fails with that error.
// - A caller whose ctx.signal aborts (it disconnected, was cancelled or timed out) while it waits is
//   taken out of the queue and rejected at once; it is never part of a batch that runs after that.
// Batching happens inside one replica: it gathers concurrent calls when replica_concurrency > 1.

export interface BatchOptions {
  /** The most inputs in one call of the batch function. */
  maxBatchSize: number;
  /** How long the oldest waiting input may wait for others before its batch runs. */
  maxWaitMs: number;
}

/** Whatever a caller passes as its second argument; a function's ctx has the signal that matters. */
export interface BatchCaller {
  readonly signal?: AbortSignal;
}

export type BatchFunction<I, O, C extends BatchCaller = BatchCaller> = (
  inputs: I[],
  callers: C[],
) => Promise<Array<O | Error>> | Array<O | Error>;

interface Waiting<I, O, C> {
  input: I;
  caller: C;
  arrived: number;
  resolve(value: O): void;
  reject(reason: unknown): void;
  stopWatching(): void;
}

/** Wraps `fn` so that each call passes one input and concurrent calls share one run of `fn`. */
export function batched<I, O, C extends BatchCaller = BatchCaller>(
  options: BatchOptions,
  fn: BatchFunction<I, O, C>,
): (input: I, caller?: C) => Promise<O> {
  const { maxBatchSize, maxWaitMs } = options;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be an integer ≥ 1, got ${maxBatchSize}`);
  if (!(maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${maxWaitMs}`);

  const queue: Array<Waiting<I, O, C>> = [];
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const schedule = () => {
    if (running || queue.length === 0) return;
    clearTimeout(timer);
    timer = undefined;
    if (queue.length >= maxBatchSize) {
      void runBatch();
      return;
    }
    // Measured from the oldest input, so one that waited behind a running batch does not wait again.
    const delay = Math.max(0, queue[0].arrived + maxWaitMs - performance.now());
    timer = setTimeout(() => void runBatch(), delay);
  };

  const runBatch = async () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = queue.splice(0, maxBatchSize);
    if (batch.length === 0) return;
    // From here each caller gets the batch's answer; a later abort is the replica's business.
    for (const item of batch) item.stopWatching();
    running = true;
    try {
      const results = await fn(
        batch.map((item) => item.input),
        batch.map((item) => item.caller),
      );
      if (!Array.isArray(results) || results.length !== batch.length) {
        throw new TypeError(
          `A batched function must return one result per input: got ${Array.isArray(results) ? results.length : typeof results} for ${batch.length}`,
        );
      }
      batch.forEach((item, i) => {
        const result = results[i];
        if (result instanceof Error) item.reject(result);
        else item.resolve(result);
      });
    } catch (err) {
      for (const item of batch) item.reject(err);
    } finally {
      running = false;
      schedule();
    }
  };

  return (input: I, caller?: C) => {
    const who = (caller ?? {}) as C;
    const signal = who.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<O>((resolve, reject) => {
      const onAbort = () => {
        const at = queue.indexOf(item);
        if (at >= 0) queue.splice(at, 1);
        reject(signal?.reason);
        schedule();
      };
      const item: Waiting<I, O, C> = {
        input,
        caller: who,
        arrived: performance.now(),
        resolve,
        reject,
        stopWatching: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(item);
      schedule();
    });
  };
}
