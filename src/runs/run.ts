// One run's life, as a state machine: pending → running → success | failure | cancelled.
// Sync calls, streams (and later async calls) differ only in who listens to the transitions;
// the transitions themselves happen here and nowhere else.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { SerializedError } from '../errors.ts';
import type { FaultPlan } from '../faults/directives.ts';

export type RunStatus = 'pending' | 'running' | 'success' | 'failure' | 'cancelled';

const NEXT: Record<RunStatus, RunStatus[]> = {
  pending: ['running', 'failure', 'cancelled'],
  running: ['success', 'failure', 'cancelled'],
  success: [],
  failure: [],
  cancelled: [],
};

export interface RunInit {
  projectId: string;
  appName: string;
  functionName: string;
  params: Record<string, unknown>;
  /** The params' JSON text as the caller sent it, stored as received; made from `params` when absent. */
  paramsJson?: string;
  /** Set for runs answered with 202 and run in the background. */
  async?: boolean;
  /** Where the outcome is POSTed once the run ends (?webhookEndpoint=). */
  webhookEndpoint?: string;
  /** The HTTP method of a request forwarded to a custom runtime (whose functionName is the path). */
  method?: string;
  /** Faults injected into this run (src/faults): shown in its record, its log line and /metrics. */
  fault?: FaultPlan;
  /** A run taken from a shared queue keeps the id and arrival it was given where it was accepted. */
  id?: string;
  createdAt?: Date;
}

export interface RunEvents {
  transition: [run: Run, from: RunStatus];
}

export class Run extends EventEmitter<RunEvents> {
  /** The one place run ids are made (or kept, for a run taken from a shared queue). */
  readonly id: string;
  readonly projectId: string;
  readonly appName: string;
  readonly functionName: string;
  readonly params: Record<string, unknown>;
  /** The body's text as received, when the params came from one. */
  readonly paramsJson: string | undefined;
  readonly async: boolean;
  readonly webhookEndpoint: string | undefined;
  /** Set for a request forwarded to a custom runtime: its HTTP method. */
  readonly method: string | undefined;
  /** Faults injected into this run, when any. */
  readonly fault: FaultPlan | undefined;
  readonly createdAt: Date;

  status: RunStatus = 'pending';
  startedAt: Date | undefined;
  completedAt: Date | undefined;
  /** From creation until a replica began the function: waiting for capacity and cold starts. */
  queueTimeMs: number | undefined;
  /** The function's own duration, measured in the replica. */
  runTimeMs: number | undefined;
  /** JSON text of the result, on success. */
  resultJson: string | undefined;
  /** The HTTP status the function chose through `status_code`. */
  statusCode: number | undefined;
  error: SerializedError | undefined;

  /** Arrival on the performance clock: queue time counts from here. */
  private readonly created: number;
  private readonly cancelController = new AbortController();

  constructor(init: RunInit) {
    super();
    this.id = init.id ?? randomUUID();
    this.createdAt = init.createdAt ?? new Date();
    // A queued run's wait in the shared queue counts as queue time, as a wait for capacity here does.
    this.created = performance.now() - (init.createdAt ? Math.max(0, Date.now() - init.createdAt.getTime()) : 0);
    this.projectId = init.projectId;
    this.appName = init.appName;
    this.functionName = init.functionName;
    this.params = init.params;
    this.paramsJson = init.paramsJson;
    this.async = init.async ?? false;
    this.webhookEndpoint = init.webhookEndpoint;
    this.method = init.method;
    this.fault = init.fault;
  }

  /** Aborts when someone asks for this run to stop: the caller left, or a cancel call. */
  get cancelSignal(): AbortSignal {
    return this.cancelController.signal;
  }

  get done(): boolean {
    return NEXT[this.status].length === 0;
  }

  /** Asks the run to stop; the runtime answers by moving it to `cancelled` once it has. */
  requestCancel(reason: string): void {
    if (!this.done && !this.cancelController.signal.aborted) this.cancelController.abort(reason);
  }

  markRunning(): void {
    this.assertCanMove('running');
    this.queueTimeMs = performance.now() - this.created;
    this.startedAt = new Date();
    this.move('running');
  }

  succeed(resultJson: string, runTimeMs: number, statusCode?: number): void {
    this.assertCanMove('success');
    this.resultJson = resultJson;
    this.runTimeMs = runTimeMs;
    this.statusCode = statusCode;
    this.move('success');
  }

  fail(error: SerializedError, runTimeMs?: number): void {
    this.assertCanMove('failure');
    this.error = error;
    this.runTimeMs = runTimeMs;
    this.move('failure');
  }

  cancel(reason: string, runTimeMs?: number): void {
    this.assertCanMove('cancelled');
    this.error = { name: 'Cancelled', message: reason, aborted: true };
    this.runTimeMs = runTimeMs;
    this.move('cancelled');
  }

  /** Resolves once the run has reached a final state. */
  settled(): Promise<Run> {
    if (this.done) return Promise.resolve(this);
    return new Promise((resolve) => {
      const onTransition = () => {
        if (!this.done) return;
        this.off('transition', onTransition);
        resolve(this);
      };
      this.on('transition', onTransition);
    });
  }

  /** Checked before a transition writes anything, so a refused one leaves the run as it was. */
  private assertCanMove(to: RunStatus): void {
    if (!NEXT[this.status].includes(to)) {
      throw new Error(`Run ${this.id}: cannot go from ${this.status} to ${to}`);
    }
  }

  private move(to: RunStatus): void {
    const from = this.status;
    this.status = to;
    if (this.done) {
      this.completedAt = new Date();
      if (this.queueTimeMs === undefined) this.queueTimeMs = performance.now() - this.created;
    }
    this.emit('transition', this, from);
  }
}
