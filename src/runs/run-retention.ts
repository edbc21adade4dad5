// --retain-runs-days and --retain-runs: finished runs older than that many days, and each app's
// finished runs beyond its newest N, are deleted from the run store, at start and then every
// minute on a timer (never from a request), a batch at a time so requests interleave. Runs still
// pending or running are never deleted.
import type { Logger } from 'pino';
import type { RunRepository } from './run-repository.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 1000;

export interface RetentionPolicy {
  /** Finished runs older than this many days go; 0 keeps them whatever their age. */
  days: number;
  /** Each app keeps at most this many runs; 0 keeps them however many. */
  perApp: number;
}

/** Starts pruning; returns a function that stops it. */
export function retainRuns(policy: RetentionPolicy, repository: RunRepository, log: Logger): () => void {
  let pruning = false;
  const prune = async () => {
    if (pruning) return;
    pruning = true;
    try {
      await prunePass(policy, repository, log);
    } catch (err) {
      log.error({ err }, 'could not delete old runs from the run store');
    } finally {
      pruning = false;
    }
  };
  const first = setTimeout(prune, 0).unref();
  const timer = setInterval(prune, PRUNE_EVERY_MS).unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

async function prunePass({ days, perApp }: RetentionPolicy, repository: RunRepository, log: Logger): Promise<void> {
  if (days > 0) {
    const deleted = await repository.prune(Date.now() - days * DAY_MS);
    if (deleted > 0) log.info({ runs: deleted, days }, 'deleted finished runs older than --retain-runs-days');
  }
  if (perApp > 0) {
    const deleted = await repository.pruneExcess(perApp);
    if (deleted > 0) log.info({ runs: deleted, per_app: perApp }, 'deleted the oldest finished runs beyond --retain-runs per app');
  }
}
