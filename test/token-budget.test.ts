// Token-budget batching: batched({ maxBatchTokens, tokens }) keeps each batch's padded tokens
// (longest input × batch size) within the budget, and groups inputs of similar length so less of
// each batch is padding than when batches are cut in arrival order.
import { describe, expect, it } from 'vitest';
import { batched, paddedTokens, pickBatch } from '../src/models/batching.ts';

/** Arrival-order batches under the same limits, as a FIFO without grouping would cut them. */
function arrivalOrderBatches(lengths: number[], maxBatchSize: number, maxBatchTokens: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  for (const length of lengths) {
    const next = [...current, length];
    if (current.length > 0 && (next.length > maxBatchSize || paddedTokens(next) > maxBatchTokens)) {
      batches.push(current);
      current = [length];
    } else {
      current = next;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

// Short and long inputs interleaved, as unrelated callers send them.
const LENGTHS = Array.from({ length: 48 }, (_, i) => (i % 3 === 0 ? 120 : i % 3 === 1 ? 8 : 12 + (i % 5)));

describe('picking a batch under a token budget', () => {
  it('always takes the oldest input and never goes over the budget or the size', () => {
    for (let start = 0; start < LENGTHS.length; start++) {
      const lengths = LENGTHS.slice(start);
      const picked = pickBatch(lengths, 16, 512);
      expect(picked[0]).toBe(0);
      expect(picked.length).toBeLessThanOrEqual(16);
      expect(paddedTokens(picked.map((i) => lengths[i]))).toBeLessThanOrEqual(512);
    }
  });

  it('lets an input longer than the whole budget run alone rather than never', () => {
    expect(pickBatch([900, 5, 5], 8, 512)).toEqual([0]);
  });
});

describe('batched() with maxBatchTokens', () => {
  it('runs batches that stay within the budget and pad fewer tokens than arrival order would', async () => {
    const budget = 512;
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fn = batched<number, number>({ maxBatchSize: 16, maxWaitMs: 1, maxBatchTokens: budget, tokens: (n) => n }, async (inputs) => {
      batches.push(inputs);
      // The first batch holds the model while the rest arrive, so they gather as under load.
      if (batches.length === 1) await gate;
      return inputs.map((n) => n * 2);
    });
    const first = fn(4);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const rest = LENGTHS.map((n) => fn(n));
    release();
    expect(await Promise.all([first, ...rest])).toEqual([8, ...LENGTHS.map((n) => n * 2)]);

    const gathered = batches.slice(1);
    expect(gathered.flat().sort((a, b) => a - b)).toEqual([...LENGTHS].sort((a, b) => a - b));
    for (const batch of gathered) {
      expect(batch.length).toBeLessThanOrEqual(16);
      expect(paddedTokens(batch)).toBeLessThanOrEqual(budget);
    }
    const grouped = gathered.reduce((sum, b) => sum + paddedTokens(b), 0);
    const fifo = arrivalOrderBatches(LENGTHS, 16, budget).reduce((sum, b) => sum + paddedTokens(b), 0);
    expect(grouped).toBeLessThan(fifo);
  });

  it("refuses maxBatchTokens without a way to count an input's tokens", () => {
    expect(() => batched({ maxBatchSize: 4, maxWaitMs: 1, maxBatchTokens: 100 }, (xs: number[]) => xs)).toThrow(/needs tokens\(input\)/);
  });

  it('fails only the caller whose token count is not a number', async () => {
    const fn = batched<string, string>(
      { maxBatchSize: 4, maxWaitMs: 1, maxBatchTokens: 100, tokens: (s) => (s === 'bad' ? Number.NaN : s.length) },
      (xs) => xs,
    );
    const results = await Promise.allSettled([fn('ok'), fn('bad')]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'ok' });
    expect(results[1].status).toBe('rejected');
  });
});
