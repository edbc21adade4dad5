// A listener that keeps a run's record in the repository: a row when the run is made, and its
// state after each transition. The params are stored as the caller sent them. A success stores
// its result text as it is (only its beginning past --max-stored-result-bytes, flagged as
// truncated; the caller and the webhook still get all of it); any other end stores the error
// object its caller was answered with.
import type { Logger } from 'pino';
import type { Run } from './run.ts';
import type { DescribeOutcome } from './run-outcome.ts';
import type { RunChange, RunRepository } from './run-repository.ts';

export interface RecordOptions {
  repository: RunRepository;
  describe: DescribeOutcome;
  log: Logger;
  /** Results longer than this many bytes (UTF-8) are stored cut to it, flagged as truncated. */
  maxStoredResultBytes: number;
  /** The run's record exists already (a run taken from a shared queue): only its transitions are written. */
  alreadyStored?: boolean;
}

export function recordRun(run: Run, { repository, describe, log, maxStoredResultBytes, alreadyStored }: RecordOptions): void {
  if (!alreadyStored) insertRecord(run, repository);
  run.on('transition', () => {
    try {
      repository.transition(changeOf(run, describe, maxStoredResultBytes));
    } catch (err) {
      // A run whose outcome cannot be described must not break the run itself: its caller still gets an answer.
      log.error({ err, run_id: run.id }, 'could not record a run transition in the run store');
    }
  });
}

function insertRecord(run: Run, repository: RunRepository): void {
  repository.insert({
    id: run.id,
    projectId: run.projectId,
    appName: run.appName,
    functionName: run.functionName,
    async: run.async,
    status: run.status,
    createdAt: run.createdAt.getTime(),
    method: run.method ?? 'POST',
    paramsJson: run.paramsJson ?? JSON.stringify(run.params),
    webhookEndpoint: run.webhookEndpoint ?? null,
    fault: run.fault?.text ?? null,
  });
}

function changeOf(run: Run, describe: DescribeOutcome, maxResultBytes: number): RunChange {
  const change: RunChange = {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt?.getTime() ?? null,
    queueTimeMs: run.queueTimeMs ?? null,
  };
  if (!run.done) return change;
  // A success needs only its status and result text; the full outcome (an error body) only otherwise.
  const outcome = run.status === 'success' ? undefined : describe(run);
  const result = run.status === 'success' ? storedResult(run.resultJson ?? 'null', maxResultBytes) : undefined;
  change.end = {
    statusCode: outcome?.statusCode ?? run.statusCode ?? 200,
    completedAt: run.completedAt?.getTime() ?? Date.now(),
    runTimeMs: run.runTimeMs ?? null,
    resultJson: result?.text ?? null,
    resultTruncated: result?.truncated ?? false,
    errorJson: outcome?.error ? JSON.stringify(outcome.error) : null,
  };
  return change;
}

/** The result text as stored: whole, or its first `maxBytes` bytes (never a split character). */
function storedResult(text: string, maxBytes: number): { text: string; truncated: boolean } {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most results are known to fit without being measured.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return { text, truncated: false };
  const cut = Buffer.from(text).subarray(0, maxBytes).toString();
  // A character cut in two decodes as U+FFFD at the end; it is dropped rather than stored.
  return { text: cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut, truncated: true };
}
