// RunChannel on its own: the server's end of one run, fed by hand as a backend would feed it.
// Chunks are held until taken, credit goes back in batches as they are taken, the first end counts.
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/replica-protocol.ts';
import { CREDIT_BATCH, RunChannel } from '../../src/runtime/run-channel.ts';

const ok: RunResult = { ok: true, json: '{"done":true}', runTimeMs: 1 };
const failed: RunResult = { ok: false, error: { name: 'Error', message: 'late' }, runTimeMs: 2 };

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A channel whose started and credit calls are counted. */
function newChannel() {
  const credits: number[] = [];
  let starts = 0;
  const channel = new RunChannel(
    () => {
      starts += 1;
    },
    (n) => credits.push(n),
  );
  return { channel, credits, starts: () => starts };
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Takes `n` chunks from the iterator, one next() at a time. */
async function takeN(it: AsyncIterator<unknown>, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const step = await it.next();
    if (step.done) throw new Error(`take() ended after ${i} of ${n} chunks`);
    out.push(step.value);
  }
  return out;
}

async function takeAll(channel: RunChannel): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const chunk of channel.take()) out.push(chunk);
  return out;
}

/** A consumer already waiting on take() with nothing to take: its pending step. */
async function waitingConsumer(channel: RunChannel): Promise<{ next: Promise<IteratorResult<unknown>> }> {
  let settled = false;
  const next = channel.take()[Symbol.asyncIterator]().next();
  void next.then(() => (settled = true));
  await flush();
  expect(settled, 'take() should wait while the buffer is empty').toBe(false);
  return { next };
}

describe('RunChannel chunks', () => {
  it('yields chunks from take() in the order they were sent, across messages', async () => {
    const { channel } = newChannel();
    channel.chunks(['a', 'b']);
    channel.chunks([{ c: 3 }]);
    channel.chunks([]);
    channel.chunks([null, 'e']);
    channel.end(ok);
    expect(await takeAll(channel)).toEqual(['a', 'b', { c: 3 }, null, 'e']);
  });

  it('wakes a consumer waiting on an empty buffer when chunks arrive', async () => {
    const { channel } = newChannel();
    const waiting = await waitingConsumer(channel);

    channel.chunks(['first']);
    expect(await waiting.next).toEqual({ value: 'first', done: false });
  });

  it('ends take() after end() only once the buffer is drained', async () => {
    const { channel } = newChannel();
    channel.chunks([1, 2, 3]);
    channel.end(ok);
    const it = channel.take()[Symbol.asyncIterator]();
    expect(await takeN(it, 3)).toEqual([1, 2, 3]);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('ends take() at once when the run ends without chunks', async () => {
    const { channel } = newChannel();
    channel.end(failed);
    expect(await takeAll(channel)).toEqual([]);
  });

  it('wakes a consumer waiting on an empty buffer when the run ends', async () => {
    const { channel } = newChannel();
    const waiting = await waitingConsumer(channel);

    channel.end(ok);
    expect(await waiting.next).toEqual({ value: undefined, done: true });
  });
});

describe('RunChannel credit', () => {
  it('hands credit back in batches of CREDIT_BATCH as chunks are taken', async () => {
    const { channel, credits } = newChannel();
    channel.chunks(range(3 * CREDIT_BATCH));
    const it = channel.take()[Symbol.asyncIterator]();

    await takeN(it, CREDIT_BATCH - 1);
    expect(credits).toEqual([]);
    await takeN(it, 1);
    expect(credits).toEqual([CREDIT_BATCH]);
    await takeN(it, 2 * CREDIT_BATCH);
    expect(credits).toEqual([CREDIT_BATCH, CREDIT_BATCH, CREDIT_BATCH]);
  });

  it('holds back credit for a partial batch until it fills', async () => {
    const { channel, credits } = newChannel();
    const it = channel.take()[Symbol.asyncIterator]();
    channel.chunks(range(CREDIT_BATCH + 5));
    await takeN(it, CREDIT_BATCH + 5);
    expect(credits).toEqual([CREDIT_BATCH]);

    // The five already taken count towards the next batch.
    channel.chunks(range(CREDIT_BATCH - 5));
    await takeN(it, CREDIT_BATCH - 5);
    expect(credits).toEqual([CREDIT_BATCH, CREDIT_BATCH]);
  });

  it('gives no credit for chunks not yet taken by a slow consumer', async () => {
    const { channel, credits } = newChannel();
    channel.chunks(range(4 * CREDIT_BATCH));
    const it = channel.take()[Symbol.asyncIterator]();
    await flush();
    expect(credits).toEqual([]);

    await takeN(it, CREDIT_BATCH / 2);
    await flush();
    expect(credits).toEqual([]);
  });

  it('gives no credit once the run has ended, even for chunks taken afterwards', async () => {
    const { channel, credits } = newChannel();
    const it = channel.take()[Symbol.asyncIterator]();
    channel.chunks(range(3 * CREDIT_BATCH));
    await takeN(it, CREDIT_BATCH);
    expect(credits).toEqual([CREDIT_BATCH]);

    channel.end(ok);
    await takeN(it, 2 * CREDIT_BATCH);
    expect((await it.next()).done).toBe(true);
    expect(credits).toEqual([CREDIT_BATCH]);
  });
});

describe('RunChannel batches', () => {
  it('yields every chunk that arrived together from takeBatches() at once, in order, then the next arrivals', async () => {
    const { channel, credits } = newChannel();
    channel.chunks(range(3));
    channel.chunks(range(2, 3));
    const it = channel.takeBatches()[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual([0, 1, 2, 3, 4]);
    const next = it.next();
    channel.chunks([5]);
    expect((await next).value).toEqual([5]);
    channel.end(ok);
    expect((await it.next()).done).toBe(true);
    expect(credits).toEqual([]);
  });

  it('hands credit back for a batch once CREDIT_BATCH chunks have been taken in batches', async () => {
    const { channel, credits } = newChannel();
    const it = channel.takeBatches()[Symbol.asyncIterator]();
    channel.chunks(range(CREDIT_BATCH - 1));
    await it.next();
    expect(credits).toEqual([]);
    channel.chunks(range(2));
    await it.next();
    expect(credits).toEqual([CREDIT_BATCH + 1]);
  });
});

describe('RunChannel start and end', () => {
  it('calls onStarted when the replica reports the run started', () => {
    const { channel, starts } = newChannel();
    expect(starts()).toBe(0);
    channel.started();
    expect(starts()).toBe(1);
  });

  it('resolves ended with the first end and ignores a later one', async () => {
    const { channel } = newChannel();
    channel.end(ok);
    channel.end(failed);
    expect(await channel.ended).toBe(ok);
  });

  it('keeps the first end when the later one is a crash notice', async () => {
    const { channel } = newChannel();
    channel.end(failed);
    channel.end({ ok: false, error: { name: 'ReplicaCrashed', message: 'gone', crashed: true }, runTimeMs: 0 });
    expect(await channel.ended).toBe(failed);
  });

  it('leaves ended pending until an end arrives', async () => {
    const { channel } = newChannel();
    let result: RunResult | undefined;
    void channel.ended.then((r) => (result = r));
    channel.started();
    channel.chunks(['x']);
    await flush();
    expect(result).toBeUndefined();
    channel.end(ok);
    await flush();
    expect(result).toBe(ok);
  });
});
