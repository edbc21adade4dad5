// A listener that keeps a run's record in the repository: a row when the run is made, and its
// state after each transition. A success stores its result text as it is; any other end stores
// the error object its caller was answered with.
import type { Logger } from 'pino';
import type { Run } from './run.ts';
import type { DescribeOutcome } from './run-outcome.ts';
import type { RunChange, RunRepository } from './run-repository.ts';

export function recordRun(run: Run, repository: RunRepository, describe: DescribeOutcome, log: Logger): void {
  repository.insert({
    id: run.id,
    projectId: run.projectId,
    appName: run.appName,
    functionName: run.functionName,
    async: run.async,
    status: run.status,
    createdAt: run.createdAt.getTime(),
    method: run.method ?? 'POST',
    paramsJson: JSON.stringify(run.params),
    webhookEndpoint: run.webhookEndpoint ?? null,
  });
  run.on('transition', () => {
    try {
      repository.transition(changeOf(run, describe));
    } catch (err) {
      // A run whose outcome cannot be described must not break the run itself: its caller still gets an answer.
      log.error({ err, run_id: run.id }, 'could not record a run transition in the run store');
    }
  });
}

function changeOf(run: Run, describe: DescribeOutcome): RunChange {
  const change: RunChange = {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt?.getTime() ?? null,
    queueTimeMs: run.queueTimeMs ?? null,
  };
  if (!run.done) return change;
  // A success needs only its status and result text; the full outcome (an error body) only otherwise.
  const outcome = run.status === 'success' ? undefined : describe(run);
  change.end = {
    statusCode: outcome?.statusCode ?? run.statusCode ?? 200,
    completedAt: run.completedAt?.getTime() ?? Date.now(),
    runTimeMs: run.runTimeMs ?? null,
    resultJson: run.status === 'success' ? (run.resultJson ?? 'null') : null,
    errorJson: outcome?.error ? JSON.stringify(outcome.error) : null,
  };
  return change;
}
