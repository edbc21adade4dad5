// The answer a fault's status=CODE gives: the same catalogued error, body and headers this server
// (or the real gateway) gives for that status, its message saying it was injected.
import { CerebriumLocalError, queueFull, type SerializedError } from '../errors.ts';
import type { FaultPlan, InjectableStatus } from './directives.ts';

/** How a run failed by status=CODE is kept: plain data, like every run's error. */
export function injectedRunError(plan: FaultPlan & { status: InjectableStatus }): SerializedError {
  return { name: 'InjectedFault', message: `Injected fault (${plan.text}): answered ${plan.status}`, injectedStatus: plan.status };
}

/** The catalogued error for an injected status. */
export function injectedFailure(status: number, message: string): CerebriumLocalError {
  switch (status) {
    case 429:
      // With Retry-After, as a full queue answers.
      return queueFull(message);
    case 502:
      return new CerebriumLocalError('bad_gateway', message);
    case 503:
      return new CerebriumLocalError('service_unavailable', message);
    case 504:
      return new CerebriumLocalError('response_grace_period_exceeded', message);
    default:
      return new CerebriumLocalError('internal_error', message);
  }
}
