// batched(): the contract in-process, then over a real server (test/fixtures/batching-app, one
// replica taking many runs at once): callers share a batch, each gets its own answer, a bad input
// fails only its caller, a caller that disconnects is dropped before its batch runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batched } from '../src/index.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('batched (in-process)', () => {
  it('gathers concurrent calls into one call and gives each caller its own element', async () => {
    const calls: number[][] = [];
    const double = batched({ maxBatchSize: 10, maxWaitMs: 20 }, (xs: number[]) => {
      calls.push(xs);
      return xs.map((x) => x * 2);
    });
    const results = await Promise.all([1, 2, 3, 4].map((x) => double(x)));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(calls).toEqual([[1, 2, 3, 4]]);
  });

  it('runs a full batch at once and never passes more than maxBatchSize', async () => {
    const sizes: number[] = [];
    const started = performance.now();
    const id = batched({ maxBatchSize: 3, maxWaitMs: 10_000 }, (xs: number[]) => {
      sizes.push(xs.length);
      return xs;
    });
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((x) => id(x)))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sizes).toEqual([3, 3]);
    // Full batches do not wait for maxWaitMs.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('gathers the calls that arrive while a batch runs into the next batch', async () => {
    const calls: number[][] = [];
    const slow = batched({ maxBatchSize: 100, maxWaitMs: 0 }, async (xs: number[]) => {
      calls.push(xs);
      await sleep(30);
      return xs;
    });
    const first = slow(0);
    await sleep(5);
    const rest = [1, 2, 3].map((x) => slow(x));
    await Promise.all([first, ...rest]);
    expect(calls).toEqual([[0], [1, 2, 3]]);
  });

  it('fails only the caller whose element is an Error', async () => {
    const check = batched({ maxBatchSize: 8, maxWaitMs: 5 }, (xs: number[]) => xs.map((x) => (x < 0 ? new RangeError(`bad ${x}`) : x)));
    const settled = await Promise.allSettled([1, -2, 3].map((x) => check(x)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect((settled[2] as PromiseFulfilledResult<number>).value).toBe(3);
  });

  it('fails the whole batch when the function throws or answers the wrong number of results', async () => {
    const throws = batched({ maxBatchSize: 8, maxWaitMs: 1 }, (): number[] => {
      throw new Error('model broke');
    });
    const all = await Promise.allSettled([1, 2].map((x) => throws(x)));
    expect(all.every((s) => s.status === 'rejected' && /model broke/.test(String(s.reason)))).toBe(true);

    const short = batched({ maxBatchSize: 8, maxWaitMs: 1 }, (xs: number[]) => xs.slice(1));
    await expect(Promise.all([short(1), short(2)])).rejects.toThrow(/one result per input: got 1 for 2/);
  });

  it('drops a caller whose signal aborts while it waits, before the batch runs', async () => {
    const calls: string[][] = [];
    const echo = batched({ maxBatchSize: 8, maxWaitMs: 50 }, (xs: string[]) => {
      calls.push(xs);
      return xs;
    });
    const leaving = new AbortController();
    const a = echo('a', { signal: new AbortController().signal });
    const b = echo('b', { signal: leaving.signal });
    const c = echo('c');
    leaving.abort(new Error('caller left'));
    await expect(b).rejects.toThrow('caller left');
    expect(await Promise.all([a, c])).toEqual(['a', 'c']);
    expect(calls).toEqual([['a', 'c']]);
    // An already aborted caller never enters the queue.
    await expect(echo('d', { signal: leaving.signal })).rejects.toThrow('caller left');
    expect(calls).toEqual([['a', 'c']]);
  });

  it('refuses a batch size below one', () => {
    expect(() => batched({ maxBatchSize: 0, maxWaitMs: 1 }, (xs: number[]) => xs)).toThrow(/maxBatchSize/);
  });
});

describe('batched functions over a real server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([fixture('batching-app')]);
  });
  afterAll(async () => {
    await server?.close();
  });

  const ranBatches = async (): Promise<number[][]> =>
    ((await (await server.post('/v4/p-test/batching/ranBatches', {})).json()) as { result: number[][] }).result;

  it('runs concurrent callers as one batch, answers each its own result, and fails only the bad input', async () => {
    const before = (await ranBatches()).length;
    const responses = await Promise.all([1, 2, -3, 4].map((n) => server.post('/v4/p-test/batching/square', { n })));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Array<{ result?: unknown; error?: { message: string } }>;
    expect(responses.map((r) => r.status)).toEqual([200, 200, 500, 200]);
    expect(bodies[0].result).toEqual({ n: 1, square: 1 });
    expect(bodies[1].result).toEqual({ n: 2, square: 4 });
    expect(bodies[2].error?.message).toMatch(/n must not be negative, got -3/);
    expect(bodies[3].result).toEqual({ n: 4, square: 16 });
    const batches = (await ranBatches()).slice(before);
    expect(batches).toHaveLength(1);
    expect([...batches[0]].sort((x, y) => x - y)).toEqual([-3, 1, 2, 4]);
  });

  it('drops a caller that disconnects before its batch runs', async () => {
    const before = (await ranBatches()).length;
    const leaving = new AbortController();
    const gone = fetch(`${server.url}/v4/p-test/batching/square`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 99 }),
      signal: leaving.signal,
    }).catch((err: unknown) => err);
    const staying = [5, 6].map((n) => server.post('/v4/p-test/batching/square', { n }));
    // The batch waits 300 ms for company; the caller leaves well before that.
    await sleep(80);
    leaving.abort();
    expect(await gone).toBeInstanceOf(Error);
    const answers = await Promise.all(staying);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    const batches = (await ranBatches()).slice(before);
    expect(batches.flat().sort((x, y) => x - y)).toEqual([5, 6]);
  });
});
