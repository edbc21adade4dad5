// How the run service carries out the faults injected into a run (src/faults decides which): a
// status=CODE run fails at once with that status and never reaches a replica; latency and cold go
// to the runtime; drop-after and reset are the HTTP layer's, webhook faults the webhook sender's.
// A request forwarded to a custom runtime gets the same, webhook faults aside (it has no webhook).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { LoadedApp } from '../apps/app-registry.ts';
import { errorBody } from '../errors.ts';
import type { WebhookFault } from '../faults/directives.ts';
import { injectedFailure, injectedRunError } from '../faults/fault-errors.ts';
import type { RunRequest } from '../replica-protocol.ts';
import type { ExecuteOptions, RunExecution } from '../runtime/app-runtime.ts';
import type { ExecutionEvents } from '../runtime/execution.ts';
import type { Run } from './run.ts';

const NO_CHUNKS: RunExecution = {
  async *chunks() {},
  async *chunkBatches() {},
};

/** Runs `request` for `run`, which carries a fault plan. */
export function executeWithFaults(
  app: LoadedApp,
  run: Run,
  request: RunRequest,
  events: ExecutionEvents,
  paramsBytes: number | undefined,
): RunExecution {
  return executeFaulted(app, run, request, events, { paramsBytes });
}

/** Forwards `request` to a custom runtime's replica for `run`, which carries a fault plan; `options` as without one. */
export function forwardWithFaults(app: LoadedApp, run: Run, request: RunRequest, events: ExecutionEvents, options: ExecuteOptions): void {
  executeFaulted(app, run, request, events, options);
}

function executeFaulted(app: LoadedApp, run: Run, request: RunRequest, events: ExecutionEvents, options: ExecuteOptions): RunExecution {
  const plan = run.fault;
  if (plan?.status !== undefined) {
    events.ended({ status: 'failure', error: injectedRunError({ ...plan, status: plan.status }) });
    return NO_CHUNKS;
  }
  const fault = { delayMs: plan?.latencyMs, freshReplica: plan?.cold };
  return app.runtime.execute(request, run.cancelSignal, events, { ...options, fault });
}

/**
 * A run's webhook fault, carried out before its first delivery: undefined when nothing is to be
 * delivered (webhook=drop, or the server stopped during webhook=delay), else the body to deliver
 * instead of the run's own (webhook=status=CODE), or null to deliver the run's own.
 */
export async function faultedDelivery(
  run: Run,
  fault: WebhookFault,
  stopping: AbortSignal,
  log: Logger,
): Promise<string | null | undefined> {
  if (fault.drop) {
    log.warn({ run_id: run.id, fault: run.fault?.text }, 'webhook dropped by an injected fault');
    return undefined;
  }
  if (fault.delayMs) {
    try {
      await sleep(fault.delayMs, undefined, { signal: stopping });
    } catch {
      return undefined;
    }
  }
  if (fault.status === undefined) return null;
  const err = injectedFailure(fault.status, `Injected fault (${run.fault?.text ?? ''}): the webhook reports ${fault.status}`);
  return JSON.stringify(errorBody(err, run.id));
}
