// One run's way through an app runtime, as steps a reader can follow:
//
//   queued ──permit──▶ dispatched ──end──▶ ended
//     │                    │
//     │ stop               │ stop: abort (ctx.signal); abortGraceMs later, replace the replica
//     ▼                    ▼
//   ended (cancelled       ended when the replica answers (or is replaced)
//    or timed out)
//
// "stop" is the caller's cancel or response_grace_period, whichever comes first. The outcome
// settles once, at the earliest of: the replica's result, the grace period (a 504 at once, while
// the replica is still being stopped), or a cancel while queued. The permit is held until the
// replica has really let go of the run, so capacity is never counted twice.
import { setTimeout as sleep } from 'node:timers/promises';
import { type SerializedError, serializeError } from '../errors.ts';
import type { RunLogLine, RunRequest, RunResult } from '../replica-protocol.ts';
import type { AdmissionQueue } from './admission-queue.ts';
import { isForwarded } from './forwarding.ts';
import type { ReplicaBackend, RunHandle } from './replica-backend.ts';
import { RunChannel } from './run-channel.ts';

/** How a run ended, as the runtime saw it. */
export type ExecutionOutcome =
  | { status: 'success'; json: string; statusCode?: number; runTimeMs: number }
  | { status: 'failure'; error: SerializedError; runTimeMs?: number }
  | { status: 'cancelled'; reason: string; runTimeMs?: number };

/** Faults injected into a run that the runtime carries out (src/faults decides them). */
export interface InjectedRunFaults {
  /** Waited before the run asks for capacity. */
  delayMs?: number;
  /** The run goes to a replica started for it: a cold start. */
  freshReplica?: boolean;
}

export interface ExecutionLimits {
  /** response_grace_period, in seconds. */
  graceSeconds: number;
  /** How long an aborted function gets to return before its replica is replaced. */
  abortGraceMs: number;
}

/** The longest delay setTimeout keeps (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the layer above hears about one run: called, not awaited, so a run costs no extra promises. */
export interface ExecutionEvents {
  /** A replica has begun the function. */
  started(): void;
  /** How the run ended; called exactly once. */
  ended(outcome: ExecutionOutcome): void;
  /** Lines the function logged, as they arrive (before `ended`). */
  logs?(lines: RunLogLine[]): void;
}

export class Execution {
  readonly channel: RunChannel;
  private settled = false;
  /** Aborts on cancel or at the deadline: stop waiting, or stop running. */
  private readonly stop = new AbortController();
  /** Timers and listeners to undo once the run has left the replica. */
  private readonly undo: Array<() => void> = [];
  private handle: RunHandle | undefined;

  constructor(
    private readonly request: RunRequest,
    private readonly cancelSignal: AbortSignal,
    private readonly backend: ReplicaBackend,
    private readonly admission: AdmissionQueue,
    private readonly limits: ExecutionLimits,
    private readonly events: ExecutionEvents,
    /** The size of its params, held against the queue's byte bound while it waits. */
    private readonly paramsBytes = 0,
    /** Faults injected into it (src/faults); undefined for nearly every run. */
    private readonly fault?: InjectedRunFaults,
  ) {
    this.channel = new RunChannel(events.started, (n) => this.handle?.credit(n), events.logs);
  }

  /** Runs it to its end; never rejects. */
  async start(): Promise<void> {
    this.armDeadline();
    this.followCancel();
    // An injected latency comes first, as a slow network would; a stop ends it early.
    if (this.fault?.delayMs) await sleep(this.fault.delayMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
    if (!(await this.admitted())) return this.cleanUp();
    try {
      this.dispatch();
      this.finish(await this.channel.ended);
    } catch (err) {
      // A backend that could not take the run (its replicas are being stopped): the run must still end.
      this.resolve({ status: 'failure', error: { ...serializeError(err), crashed: true } });
    } finally {
      this.cleanUp();
      this.admission.release();
    }
  }

  /** Step 1: the grace period runs from arrival, queue included; past it the run fails with a 504 at once. */
  private armDeadline(): void {
    const { graceSeconds } = this.limits;
    if (graceSeconds === Number.POSITIVE_INFINITY) return;
    const timer = setTimeout(
      () => {
        this.resolve({ status: 'failure', error: timedOut(graceSeconds) });
        this.halt('The run exceeded response_grace_period');
      },
      // setTimeout fires at once past its limit (about 24.8 days); a longer grace period is that long.
      Math.min(graceSeconds * 1000, MAX_TIMER_MS),
    );
    this.undo.push(() => clearTimeout(timer));
  }

  /** Step 2: a cancel (caller gone, runs API, shutdown) stops the run wherever it is. */
  private followCancel(): void {
    // One listener and direct calls rather than AbortSignal.any or more listeners: EventTarget
    // operations are among the dearest steps of a trivial run.
    this.whenAborted(this.cancelSignal, () => this.halt(this.cancelSignal.reason));
  }

  /** Stops the run wherever it is: out of the queue, or aborted on its replica (once dispatched). */
  private halt(reason: unknown): void {
    if (this.stop.signal.aborted) return;
    this.stop.abort(reason);
    this.abortOnReplica();
  }

  /** Step 3: waits for a permit (FIFO). False when stopped or refused first; the outcome then says why. */
  private async admitted(): Promise<boolean> {
    try {
      await this.admission.acquire(this.stop.signal, this.paramsBytes);
      return true;
    } catch (reason) {
      // Stopped by the deadline: the outcome is already the timeout, and this changes nothing.
      if (this.cancelSignal.aborted) {
        this.resolve({ status: 'cancelled', reason: `Cancelled while queued: ${String(this.cancelSignal.reason)}` });
      } else {
        this.resolve({ status: 'failure', error: { name: 'QueueFull', message: String(reason), queueFull: true } });
      }
      return false;
    }
  }

  /** Step 4: hands the run to a replica; a stop from here on aborts it there (see halt). */
  private dispatch(): void {
    this.handle = this.backend.run(this.request, this.channel, this.fault?.freshReplica ? { freshReplica: true } : undefined);
    if (this.stop.signal.aborted) this.abortOnReplica();
  }

  /** Cooperative first; a function that ignores ctx.signal for abortGraceMs has its replica replaced. */
  private abortOnReplica(): void {
    const handle = this.handle;
    if (!handle) return;
    handle.abort(this.cancelSignal.aborted ? String(this.cancelSignal.reason) : 'The run exceeded response_grace_period');
    const { abortGraceMs } = this.limits;
    const timer = setTimeout(
      () => handle.replaceReplica(`The function did not stop within ${abortGraceMs} ms of being aborted; its replica was replaced`),
      abortGraceMs,
    );
    this.undo.push(() => clearTimeout(timer));
  }

  /** Step 5: the replica's result. A function that returned despite a cancel still succeeded. */
  private finish(result: RunResult): void {
    const badStatus = result.ok && !isForwarded(this.request) ? invalidStatusCode(result.statusCode) : undefined;
    if (badStatus) {
      this.resolve({ status: 'failure', error: badStatus, runTimeMs: result.runTimeMs });
    } else if (result.ok) {
      this.resolve({ status: 'success', json: result.json, statusCode: result.statusCode, runTimeMs: result.runTimeMs });
    } else if (this.cancelSignal.aborted) {
      this.resolve({ status: 'cancelled', reason: String(this.cancelSignal.reason), runTimeMs: result.runTimeMs });
    } else {
      this.resolve({ status: 'failure', error: result.error, runTimeMs: result.runTimeMs });
    }
  }

  /** The first outcome counts: a run that timed out stays failed whatever its replica says later. */
  private resolve(outcome: ExecutionOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.events.ended(outcome);
  }

  /** Calls `then` when `signal` aborts (at once if it has), until the run is cleaned up. */
  private whenAborted(signal: AbortSignal, then: () => void): void {
    if (signal.aborted) {
      then();
      return;
    }
    signal.addEventListener('abort', then, { once: true });
    this.undo.push(() => signal.removeEventListener('abort', then));
  }

  private cleanUp(): void {
    for (const step of this.undo) step();
    this.undo.length = 0;
  }
}

/**
 * A function's `status_code` becomes the HTTP status of its answer, so it must be one a final answer
 * can have: 1xx would leave the caller waiting for a response that never comes. Checked here, for
 * every kind of replica (a custom runtime's status is its own server's, and is not checked).
 */
function invalidStatusCode(statusCode: number | undefined): SerializedError | undefined {
  if (statusCode === undefined || (Number.isInteger(statusCode) && statusCode >= 200 && statusCode <= 599)) return undefined;
  return {
    name: 'InvalidStatusCode',
    message: `The function returned status_code ${statusCode}; it must be an integer from 200 to 599`,
    invalidStatusCode: true,
  };
}

function timedOut(graceSeconds: number): SerializedError {
  return {
    name: 'TimeoutError',
    message: `The run did not finish within response_grace_period (${graceSeconds} s); it was aborted`,
    timedOut: true,
  };
}
