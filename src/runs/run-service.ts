// The one owner of a run's life. Routes hand it what a caller asked for and turn what it gives
// back into HTTP; it resolves the function, checks the params, makes the Run, attaches what
// listens to it (log, record, webhook, metrics), hands it to the app's runtime and moves it to its
// final state. It keeps the runs still live, so a cancel or a shutdown can reach them.
import type { Logger } from 'pino';
import type { AppFunction, LoadedApp } from '../apps/app-registry.ts';
import type { FunctionDirectory } from '../apps/resolve-function.ts';
import { DEFAULTS } from '../defaults.ts';
import { CerebriumLocalError, invalidParams } from '../errors.ts';
import type { ChunkEncoding } from '../replica-protocol.ts';
import type { ExecutionEvents, ExecutionOutcome } from '../runtime/execution.ts';
import type { ForwardedRequest, ForwardRunRequest } from '../runtime/forwarding.ts';
import { drainRuns, waitAtMost } from './drain-runs.ts';
import { Run } from './run.ts';
import { logRunOutcome } from './run-log.ts';
import type { RunMetrics } from './run-metrics.ts';
import type { DescribeOutcome } from './run-outcome.ts';
import { recordRun } from './run-recorder.ts';
import type { RunPageQuery, RunRepository, RunSummary, StoredRun, WebhookAttempt } from './run-repository.ts';
import type { WebhookSender, WebhookTarget } from './webhooks.ts';

/** A cancelled run answers once it has stopped, or after this long with its state then. */
export const CANCEL_WAIT_MS = 5_000;

export interface RunServiceDeps {
  /** The apps served (the AppRegistry): where a path's function is found. */
  apps: FunctionDirectory;
  repository: RunRepository;
  webhooks: WebhookSender;
  /** Where the one line per finished run goes. */
  log: Logger;
  metrics?: RunMetrics;
  /** How a finished run answered its caller (exposes stacks or not). */
  describe: DescribeOutcome;
  /** Results longer than this are stored cut, flagged as truncated (default 16 MiB). */
  maxStoredResultBytes?: number;
}

/** What a caller asked for, already parsed. */
export interface RunRequest {
  projectId: string;
  appName: string;
  functionName: string;
  params: Record<string, unknown>;
  /** Where the outcome is POSTed once the run ends. */
  webhook?: WebhookTarget;
  /** The size of the params as sent (the body's bytes): what the run holds against --max-queue-bytes while queued. */
  paramsBytes?: number;
  /** The params' JSON text as received (the body), stored as it is rather than made again from `params`. */
  paramsJson?: string;
}

/** A run started for a caller who waits for it. */
export interface StartedRun {
  run: Run;
  fn: AppFunction;
  /** How its chunks travel: as they come ('sse' frames or 'raw' values), or false, gathered into one result. */
  stream: ChunkEncoding | false;
  /** A generator's chunks as they are produced, when it was started to stream. */
  chunks(): AsyncIterable<unknown>;
  /** The same chunks in batches of those that arrived together (one write per batch). */
  chunkBatches(): AsyncIterable<unknown[]>;
  /** Resolves once the run has reached success, failure or cancelled. */
  settled: Promise<Run>;
}

/** A request for a custom runtime, to be forwarded to one of its replicas. */
export interface ForwardCall {
  projectId: string;
  appName: string;
  /** The path on the replica, without the query string (the run's functionName). */
  path: string;
  /** The query string, without its `?` (kept in the run's params with the method). */
  query: string;
  forward: ForwardedRequest;
}

/** A forwarded request under way. */
export interface ForwardedRun {
  run: Run;
  /** Resolves once the run has reached success, failure or cancelled. */
  settled: Promise<Run>;
}

/** Names a run in the runs API. */
export interface RunRef {
  projectId: string;
  appName: string;
  runId: string;
}

/** A stored run, with its webhook deliveries when it asked for one. */
export interface RunRecord extends StoredRun {
  webhookAttempts?: WebhookAttempt[];
}

/** A run of a list page: no params, no result. */
export interface RunListItem extends RunSummary {
  webhookAttempts?: WebhookAttempt[];
}

/** Whether the run store can write, for /ready. */
export interface StoreHealth {
  location: string;
  writable: boolean;
  /** Why it cannot, while it cannot. */
  error: string | undefined;
}

/** How a generator's chunks travel for this caller, once the function is known; false gathers them. */
export type StreamChoice = (fn: AppFunction) => ChunkEncoding | false;

export class RunService {
  /** Runs not yet finished, by id: what a cancel call and a draining shutdown reach. */
  private readonly live = new Map<string, Run>();

  constructor(private readonly deps: RunServiceDeps) {}

  /** Starts a run for a caller waiting on it. Throws the 404 / 422 / 429 / 503 that says why there is none. */
  start(request: RunRequest, streamFor: StreamChoice = () => false): StartedRun {
    const { app, fn, run } = this.create(request, false);
    const stream = streamFor(fn);
    const execution = this.execute(app, run, stream, request.paramsBytes);
    return { run, fn, stream, chunks: execution.chunks, chunkBatches: execution.chunkBatches, settled: run.settled() };
  }

  /**
   * Forwards a request to a replica of a custom runtime, as a run: queued, recorded, timed and
   * cancelled as a function's run is. Its answer reaches `call.forward.respond`; the run ends once
   * the answer has been passed on (a WebSocket: once it closes, with no response_grace_period).
   */
  forward(call: ForwardCall): ForwardedRun {
    const { projectId, appName, path, query, forward } = call;
    const app = this.deps.apps.resolveApp(appName);
    app.runtime.assertCanAccept();
    const params = { method: forward.method, path, query };
    const run = this.track(new Run({ projectId, appName, functionName: path, params, method: forward.method }));
    const request: ForwardRunRequest = { runId: run.id, projectId, functionName: path, params, stream: false, forward };
    app.runtime.execute(request, run.cancelSignal, this.eventsFor(run), { deadline: forward.upgrade === undefined });
    return { run, settled: run.settled() };
  }

  /** A call's ?webhookEndpoint=, checked before any run exists: 400 for a bad URL or a refused address. */
  webhookTarget(raw: unknown, secret: string | undefined): Promise<WebhookTarget> {
    return this.deps.webhooks.target(raw, secret);
  }

  /**
   * Starts a run in the background once its record is stored, so its 202 can leave. When the
   * store cannot write, the run never starts and the caller gets 503 store_unavailable: an
   * async run nobody could read back would be lost work.
   */
  async startAsync(request: RunRequest): Promise<Run> {
    const { app, run } = this.create(request, true);
    try {
      await this.deps.repository.commit();
    } catch (err) {
      this.deps.repository.discard(run.id);
      this.live.delete(run.id);
      throw err;
    }
    if (request.webhook) this.deps.webhooks.sendWhenDone(run, request.webhook);
    this.execute(app, run, false, request.paramsBytes);
    return run;
  }

  /** Whether the run store can write now. */
  storeHealth(): StoreHealth {
    const { location, writable, lastWriteError } = this.deps.repository;
    return { location, writable, error: lastWriteError };
  }

  async get(ref: RunRef): Promise<RunRecord> {
    const stored = await this.deps.repository.get(ref.runId);
    if (!stored || stored.projectId !== ref.projectId || stored.appName !== ref.appName) {
      throw new CerebriumLocalError('run_not_found', `No run "${ref.runId}" in app "${ref.projectId}-${ref.appName}"`);
    }
    return this.withAttempts(stored);
  }

  /** Newest first, without params and results (`get` has them). */
  async list(query: RunPageQuery): Promise<RunListItem[]> {
    const page = await this.deps.repository.listPage(query);
    return Promise.all(page.map((stored) => this.withAttempts(stored)));
  }

  /**
   * Asks a live run to stop (cooperatively: the function sees ctx.signal abort; a queued run never
   * starts), waits up to CANCEL_WAIT_MS for it, and returns its record then. 409 if it had ended.
   */
  async cancel(ref: RunRef): Promise<RunRecord> {
    const stored = await this.get(ref);
    const live = this.live.get(stored.id);
    if (!live) {
      throw new CerebriumLocalError('run_finished', `Run "${stored.id}" has already ended (${stored.status})`);
    }
    live.requestCancel('Cancelled through the runs API');
    await waitAtMost(live.settled(), CANCEL_WAIT_MS);
    return this.get(ref);
  }

  liveRuns(): Run[] {
    return [...this.live.values()];
  }

  /** Lets live runs finish for up to `graceMs`, then asks them to stop. Returns those still unfinished. */
  drain(graceMs: number): Promise<Run[]> {
    return drainRuns(this.liveRuns(), graceMs);
  }

  private create(request: RunRequest, async: boolean): { app: LoadedApp; fn: AppFunction; run: Run } {
    const { projectId, appName, functionName, params, paramsJson, webhook } = request;
    const { app, fn } = this.deps.apps.resolve(appName, functionName);
    const problems = fn.validateParams?.(params) ?? [];
    if (problems.length > 0) throw invalidParams(problems);
    app.runtime.assertCanAccept(request.paramsBytes);

    const run = this.track(new Run({ projectId, appName, functionName, params, paramsJson, async, webhookEndpoint: webhook?.url }));
    // An async run's webhook waits until its record is stored (startAsync): a refused run has none.
    if (webhook && !async) this.deps.webhooks.sendWhenDone(run, webhook);
    return { app, fn, run };
  }

  /** Attaches what listens to a new run (log, metrics, record) and keeps it while it is live. */
  private track(run: Run): Run {
    const { log, metrics, repository, describe } = this.deps;
    logRunOutcome(run, log);
    metrics?.observe(run);
    const maxStoredResultBytes = this.deps.maxStoredResultBytes ?? DEFAULTS.maxStoredResultBytes;
    recordRun(run, { repository, describe, log, maxStoredResultBytes });
    this.live.set(run.id, run);
    return run;
  }

  private execute(app: LoadedApp, run: Run, stream: ChunkEncoding | false, paramsBytes?: number) {
    const { id: runId, projectId, functionName, params } = run;
    const request = { runId, projectId, functionName, params, stream };
    return app.runtime.execute(request, run.cancelSignal, this.eventsFor(run), { paramsBytes });
  }

  /** What the runtime tells about a run → the run's transitions. */
  private eventsFor(run: Run): ExecutionEvents {
    return {
      // A run can time out before a replica picks it up; it stays failed.
      started: () => {
        if (!run.done) run.markRunning();
      },
      ended: (outcome) => {
        try {
          this.finish(run, outcome);
        } catch (err) {
          this.deps.log.error({ err, run_id: run.id }, 'could not finish a run');
        }
      },
    };
  }

  /** The runtime's outcome → the run's final state. */
  private finish(run: Run, outcome: ExecutionOutcome): void {
    this.live.delete(run.id);
    // A backend that answered without saying it started still ran the function.
    if (outcome.status === 'success' && run.status === 'pending') run.markRunning();
    if (outcome.status === 'success') run.succeed(outcome.json, outcome.runTimeMs, outcome.statusCode);
    else if (outcome.status === 'cancelled') run.cancel(outcome.reason, outcome.runTimeMs);
    else run.fail(outcome.error, outcome.runTimeMs);
  }

  private async withAttempts<T extends RunSummary>(stored: T): Promise<T & { webhookAttempts?: WebhookAttempt[] }> {
    if (stored.webhookEndpoint === null) return stored;
    return { ...stored, webhookAttempts: await this.deps.repository.webhookAttempts(stored.id) };
  }
}
