// --keep-runs-days: finished runs older than that are deleted from the run store, at start and
// then every hour, so a long-lived staging server's store does not grow without end. Runs still
// pending or running are never deleted.
import type { Logger } from 'pino';
import type { RunRepository } from './run-repository.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Starts pruning; returns a function that stops it. */
export function keepRunsFor(days: number, repository: RunRepository, log: Logger): () => void {
  const prune = () =>
    repository.prune(Date.now() - days * DAY_MS).then(
      (deleted) => {
        if (deleted > 0) log.info({ runs: deleted, days }, 'deleted finished runs older than --keep-runs-days');
      },
      (err: unknown) => log.error({ err }, 'could not delete old runs from the run store'),
    );
  void prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS).unref();
  return () => clearInterval(timer);
}
