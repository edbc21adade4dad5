// Where an accepted `?async=true` run waits and which server runs it: the run service's seam for
// async runs. One server (the default) runs each at once, here, after its record is committed
// (LocalAsyncQueue). A deployment on Postgres queues it in the database, and whichever server has
// room for the app takes it (postgres-async-queue.ts), through the AsyncRunner the service offers.
import type { FaultPlan } from '../faults/directives.ts';
import type { WebhookTarget } from './webhooks.ts';

/** What a caller asked for, in the shape the queue needs (RunService's RunRequest). */
export interface AsyncRequest {
  projectId: string;
  appName: string;
  functionName: string;
  params: Record<string, unknown>;
  paramsJson?: string;
  webhook?: WebhookTarget;
  paramsBytes?: number;
  /** Faults to inject into the run, wherever it runs. */
  fault?: FaultPlan;
}

export interface AsyncQueue {
  /**
   * Takes an accepted async run; resolves with its id once its record is stored (so its 202 may
   * leave). Rejects with the 404 / 422 / 429 / 503 that says why no run was accepted.
   */
  submit(request: AsyncRequest): Promise<{ id: string }>;
}

/** An async run stored in a shared queue, as a server takes it to run. */
export interface QueuedRun {
  id: string;
  projectId: string;
  appName: string;
  functionName: string;
  paramsJson: string;
  /** Epoch ms when it was accepted, on whichever server. */
  createdAt: number;
  webhook?: WebhookTarget;
  /** The faults it was given where it was accepted (kept with it in the queue). */
  fault?: FaultPlan;
}

/** What the run service offers a shared queue. */
export interface AsyncRunner {
  /** The checks a run passes before it is accepted (function found, params valid, server not draining); throws why not. */
  checkAsync(request: AsyncRequest): void;
  /** Runs a run taken from the queue here: its record exists, so only its transitions are written. */
  runQueued(run: QueuedRun): { settled(): Promise<unknown> };
  /** How many more runs of `appName` could start here now without waiting; 0 for an app not served or while draining. */
  freeCapacity(appName: string): number;
  /** Asks a run live on this server to stop, as a cancel through the runs API does. False when it is not live here. */
  cancelHere(runId: string): boolean;
  /**
   * A queued run this server cancelled in the queue, before any server took it: its record is
   * stored as cancelled already; what else follows a run's end here (its webhook) follows now.
   */
  cancelledInQueue(run: QueuedRun, reason: string): void;
  /** The runs live on this server: those its leases should cover. */
  liveRunIds(): string[];
  /**
   * Stops a run live here that this server no longer holds (another server re-queued or ended it):
   * cancelled as a local cancel would be, its webhook left to whoever holds it now. False when not live here.
   */
  fence(runId: string): boolean;
}

/** Runs held by other servers of a deployment: reaching them for a cancel. */
export interface RunPeers {
  /**
   * Asks whichever server holds this unfinished run (or the queue it waits in) to cancel it.
   * Resolves once asked; false when nothing holds it any more.
   */
  cancel(runId: string): Promise<boolean>;
}

/** One server: today's path, the service's own startAsync (commit, then run here). */
export class LocalAsyncQueue implements AsyncQueue {
  constructor(private readonly startHere: (request: AsyncRequest) => Promise<{ id: string }>) {}

  submit(request: AsyncRequest): Promise<{ id: string }> {
    return this.startHere(request);
  }
}
