// Shutting down (SIGTERM) drains: runs already accepted, async ones included, get a grace period
// to finish. Then the rest are asked to stop through ctx.signal; any that ignore it are left
// pending or running in the store, and the next start marks them as interrupted.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Run } from './run.ts';

/** How long runs asked to stop get to notice before the server goes anyway. */
const STOP_WAIT_MS = 2_000;

/** Waits for `promise`, but no longer than `ms`; the timer is cleared either way, so it holds nothing open. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  const timer = new AbortController();
  try {
    await Promise.race([promise, sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
  } finally {
    timer.abort();
  }
}

async function settledWithin(runs: Run[], ms: number): Promise<void> {
  if (runs.length > 0) await waitAtMost(Promise.all(runs.map((run) => run.settled())), ms);
}

/** Returns the runs that still had not finished. */
export async function drainRuns(runs: Run[], graceMs: number): Promise<Run[]> {
  await settledWithin(runs, graceMs);
  const left = runs.filter((run) => !run.done);
  for (const run of left) run.requestCancel('The server is shutting down');
  await settledWithin(left, STOP_WAIT_MS);
  return left.filter((run) => !run.done);
}
