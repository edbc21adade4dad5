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
// - With `maxBatchTokens`, a batch also stays within a token budget counted as a padded model input
//   is: the longest input's tokens × the batch size (as Text Embeddings Inference counts it), each
//   input's count given by `tokens(input)`. The oldest input always goes in the next batch (no one
//   starves); the others are picked by how close their length is to its length, so inputs of
//   similar length share a batch and less of it is padding. An input over the budget runs alone.
// Batching happens inside one replica: it gathers concurrent calls when replica_concurrency > 1
// (Cerebrium's default on GPUs is 1: set it higher for batching to gather anything).

export interface BatchOptions<I = never> {
  /** The most inputs in one call of the batch function. */
  maxBatchSize: number;
  /** How long the oldest waiting input may wait for others before its batch runs. */
  maxWaitMs: number;
  /** The most padded tokens in one batch: the longest input's tokens × the batch size. */
  maxBatchTokens?: number;
  /** An input's token count (required with maxBatchTokens); asked once, when the input arrives. */
  tokens?: (input: I) => number;
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
  tokens: number;
  caller: C;
  arrived: number;
  resolve(value: O): void;
  reject(reason: unknown): void;
  stopWatching(): void;
}

/** Wraps `fn` so that each call passes one input and concurrent calls share one run of `fn`. */
export function batched<I, O, C extends BatchCaller = BatchCaller>(
  options: BatchOptions<I>,
  fn: BatchFunction<I, O, C>,
): (input: I, caller?: C) => Promise<O> {
  checkBatchOptions(options);
  const queue = new BatchQueue(options, fn);
  return (input: I, caller?: C) => queue.add(input, caller);
}

/** Refuses options no batch could honour, when `batched` is called rather than at the first input. */
function checkBatchOptions<I>(options: BatchOptions<I>): void {
  const { maxBatchSize, maxWaitMs, maxBatchTokens } = options;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be an integer ≥ 1, got ${maxBatchSize}`);
  if (!(maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${maxWaitMs}`);
  if (maxBatchTokens !== undefined && !(maxBatchTokens >= 1)) throw new RangeError(`maxBatchTokens must be ≥ 1, got ${maxBatchTokens}`);
  if (maxBatchTokens !== undefined && !options.tokens)
    throw new TypeError("maxBatchTokens needs tokens(input), the count of an input's tokens");
}

/** The inputs of one batched function waiting for their batch, and the one batch running. */
class BatchQueue<I, O, C extends BatchCaller> {
  private readonly maxBatchSize: number;
  private readonly maxWaitMs: number;
  private readonly maxBatchTokens: number | undefined;
  private readonly countTokens: ((input: I) => number) | undefined;
  private readonly queue: Array<Waiting<I, O, C>> = [];
  private queuedTokens = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    options: BatchOptions<I>,
    private readonly fn: BatchFunction<I, O, C>,
  ) {
    // Read once: options changed after `batched` was called change nothing.
    this.maxBatchSize = options.maxBatchSize;
    this.maxWaitMs = options.maxWaitMs;
    this.maxBatchTokens = options.maxBatchTokens;
    this.countTokens = options.tokens;
  }

  /** One caller's input: settles with its element of the batch's results, or at once when its signal aborts. */
  add(input: I, caller?: C): Promise<O> {
    const who = (caller ?? {}) as C;
    const signal = who.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let tokens = 0;
    try {
      tokens = this.countTokens ? this.countTokens(input) : 0;
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.maxBatchTokens !== undefined && !(Number.isFinite(tokens) && tokens >= 0)) {
      return Promise.reject(new RangeError(`tokens(input) must be a count ≥ 0, got ${tokens}`));
    }
    this.queuedTokens += tokens;
    return new Promise<O>((resolve, reject) => {
      const onAbort = () => {
        this.remove(item);
        reject(signal?.reason);
        this.schedule();
      };
      const item: Waiting<I, O, C> = {
        input,
        tokens,
        caller: who,
        arrived: performance.now(),
        resolve,
        reject,
        stopWatching: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(item);
      this.schedule();
    });
  }

  /** Takes an aborted caller's input out of the queue, if it is still there. */
  private remove(item: Waiting<I, O, C>): void {
    const at = this.queue.indexOf(item);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.queuedTokens -= item.tokens;
    }
  }

  /** Whether what waits already fills a batch, so waiting longer gains nothing. */
  private full(): boolean {
    return this.queue.length >= this.maxBatchSize || (this.maxBatchTokens !== undefined && this.queuedTokens >= this.maxBatchTokens);
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.full()) {
      void this.runBatch();
      return;
    }
    // Measured from the oldest input, so one that waited behind a running batch does not wait again.
    const delay = Math.max(0, this.queue[0].arrived + this.maxWaitMs - performance.now());
    this.timer = setTimeout(() => void this.runBatch(), delay);
  }

  /** Takes the next batch out of the queue: the first maxBatchSize, or the picked ones under a token budget. */
  private takeBatch(): Array<Waiting<I, O, C>> {
    if (this.maxBatchTokens === undefined) return this.queue.splice(0, this.maxBatchSize);
    const picked = new Set(
      pickBatch(
        this.queue.map((item) => item.tokens),
        this.maxBatchSize,
        this.maxBatchTokens,
      ),
    );
    const batch = this.queue.filter((_, i) => picked.has(i));
    const rest = this.queue.filter((_, i) => !picked.has(i));
    this.queue.length = 0;
    this.queue.push(...rest);
    for (const item of batch) this.queuedTokens -= item.tokens;
    return batch;
  }

  private async runBatch(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.takeBatch();
    if (batch.length === 0) return;
    // From here each caller gets the batch's answer; a later abort is the replica's business.
    for (const item of batch) item.stopWatching();
    this.running = true;
    try {
      const results = await this.fn(
        batch.map((item) => item.input),
        batch.map((item) => item.caller),
      );
      settleEach(batch, results);
    } catch (err) {
      for (const item of batch) item.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** Gives each caller its own element of the results; throws (failing them all) when there is not one per caller. */
function settleEach<I, O, C>(batch: Array<Waiting<I, O, C>>, results: Array<O | Error>): void {
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
}

/** Padded tokens of a batch: its longest input × its size. */
export function paddedTokens(lengths: readonly number[]): number {
  return lengths.length === 0 ? 0 : Math.max(...lengths) * lengths.length;
}

/**
 * Which waiting inputs (by index, in queue order) make the next batch under a token budget: the
 * oldest (index 0) always, then the others nearest its length first (ties: the earlier arrival),
 * each taken while the batch stays within maxBatchSize and its padded tokens within maxBatchTokens.
 */
export function pickBatch(lengths: readonly number[], maxBatchSize: number, maxBatchTokens: number): number[] {
  if (lengths.length === 0) return [];
  const first = lengths[0];
  const order = lengths
    .map((length, index) => ({ length, index }))
    .slice(1)
    .sort((a, b) => Math.abs(a.length - first) - Math.abs(b.length - first) || a.index - b.index);
  const picked = [0];
  let longest = first;
  for (const { length, index } of order) {
    if (picked.length >= maxBatchSize) break;
    const padded = Math.max(longest, length) * (picked.length + 1);
    if (padded > maxBatchTokens) continue;
    picked.push(index);
    longest = Math.max(longest, length);
  }
  return picked.sort((a, b) => a - b);
}
