// The one owner of a run's life. Routes hand it what a caller asked for and turn what it gives
// back into HTTP; it resolves the function, checks the params, makes the Run, attaches what
// listens to it (log, record, webhook, metrics), hands it to the app's runtime and moves it to its
// final state. It keeps the runs still live, so a cancel or a shutdown can reach them.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AppFunction, LoadedApp } from '../apps/app-registry.ts';
import type { FunctionDirectory } from '../apps/resolve-function.ts';
import { DEFAULTS } from '../defaults.ts';
import { CerebriumLocalError, invalidParams, serializeError } from '../errors.ts';
import type { FaultPlan } from '../faults/directives.ts';
import type { FaultInjector } from '../faults/fault-injector.ts';
import type { ChunkEncoding } from '../replica-protocol.ts';
import type { ExecutionEvents, ExecutionOutcome } from '../runtime/execution.ts';
import type { ForwardedRequest, ForwardRunRequest } from '../runtime/forwarding.ts';
import { type AsyncQueue, type AsyncRequest, type AsyncRunner, LocalAsyncQueue, type QueuedRun, type RunPeers } from './async-queue.ts';
import { drainRuns, waitAtMost } from './drain-runs.ts';
import { executeWithFaults, forwardWithFaults } from './injected-faults.ts';
import { Run, type RunInit } from './run.ts';
import { logRunOutcome } from './run-log.ts';
import { RunLogBook, type RunLogBounds, type RunLogBuffer, type RunLogs } from './run-log-buffer.ts';
import type { RunMetrics } from './run-metrics.ts';
import { type DescribeOutcome, runError } from './run-outcome.ts';
import { recordRun } from './run-recorder.ts';
import type { RunPageQuery, RunRepository, RunSummary, StoredRun, WebhookAttempt } from './run-repository.ts';
import type { WebhookSender, WebhookTarget } from './webhooks.ts';

/** A cancelled run answers once it has stopped, or after this long with its state then. */
export const CANCEL_WAIT_MS = 5_000;
/** How often a cancel of a run on another server reads the run back until it has ended. */
const CANCEL_POLL_MS = 10;

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
  /** Where async runs wait and which server runs them; absent: each runs here once committed (one server). */
  asyncQueue?: AsyncQueue;
  /** The other servers of a deployment, reached for a cancel of a run that is not live here. */
  peers?: RunPeers;
  /** How much of what a function logs is kept with its run (default: the last 1,000 lines, 256 KiB). */
  logBounds?: RunLogBounds;
  /** Fault injection (--allow-faults, --faults): which faults a call gets; none when absent. */
  faults?: FaultInjector;
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
  /** Faults to inject into this run (faultsFor); absent for nearly every call. */
  fault?: FaultPlan;
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
  /** Faults to inject into this request (forwardFaultsFor); absent for nearly every call. */
  fault?: FaultPlan;
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

export class RunService implements AsyncRunner {
  /** Runs not yet finished, by id: what a cancel call and a draining shutdown reach. */
  private readonly live = new Map<string, Run>();
  private readonly asyncQueue: AsyncQueue;
  /** Each live run's logs, written to the store as they come. */
  private readonly logBook: RunLogBook;
  /** Who hears every run's transitions (the dashboard's event stream). */
  private readonly watchers = new Set<(run: Run) => void>();

  constructor(private readonly deps: RunServiceDeps) {
    const bounds = deps.logBounds ?? { maxLines: DEFAULTS.runLogMaxLines, maxBytes: DEFAULTS.runLogMaxBytes };
    this.logBook = new RunLogBook(deps.repository, bounds);
    this.asyncQueue = deps.asyncQueue ?? new LocalAsyncQueue((request) => this.startAsync(request));
  }

  /** Calls `listener` on every transition of every run from now on; returns how to stop. */
  watch(listener: (run: Run) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** A run's kept log lines (404 for a run not in that app). */
  async logs(ref: RunRef): Promise<RunLogs> {
    const stored = await this.get(ref);
    return this.logBook.read(stored.id);
  }

  /** The live buffer of a run's logs, to follow; undefined once the run has ended. */
  liveLogs(runId: string): RunLogBuffer | undefined {
    const run = this.live.get(runId);
    return run && this.logBook.live(run);
  }

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
    const { projectId, appName, path, query, forward, fault } = call;
    const app = this.deps.apps.resolveApp(appName);
    app.runtime.assertCanAccept();
    const params = { method: forward.method, path, query };
    const run = this.track(new Run({ projectId, appName, functionName: path, params, method: forward.method, fault }));
    const request: ForwardRunRequest = { runId: run.id, projectId, functionName: path, params, stream: false, forward };
    const options = { deadline: forward.upgrade === undefined };
    if (fault) {
      // Counted by method, as runs_total counts a custom runtime's runs: its paths are unbounded.
      this.deps.faults?.count(appName, forward.method, fault);
      forwardWithFaults(app, run, request, this.eventsFor(run), options);
    } else {
      app.runtime.execute(request, run.cancelSignal, this.eventsFor(run), options);
    }
    return { run, settled: run.settled() };
  }

  /**
   * The faults a request forwarded to a custom runtime gets, its path matched as the function
   * name: as faultsFor, less webhook= (a 400 when the header asks for it; such a request has none).
   */
  forwardFaultsFor(appName: string, path: string, header: string | undefined): FaultPlan | undefined {
    const faults = this.deps.faults;
    return faults?.active ? faults.planForForwarded(appName, path, header) : undefined;
  }

  /**
   * The faults a call of `functionName` gets: from its x-cerebrium-local-fault header (`header`) and
   * the rules. One boolean check when fault injection is off. A header that does not parse is a 400.
   */
  faultsFor(appName: string, functionName: string, header: string | undefined): FaultPlan | undefined {
    const faults = this.deps.faults;
    return faults?.active ? faults.planFor(appName, functionName, header) : undefined;
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
    // An injected status answers the call itself, as the gateway would, instead of its 202.
    if (run.fault?.status !== undefined) {
      this.execute(app, run, false);
      throw runError(run, false);
    }
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

  /** `?async=true`: hands the run to the async queue; resolves with its id once it is stored. */
  submitAsync(request: RunRequest): Promise<{ id: string }> {
    // An injected status answers the call itself, here, wherever async runs wait: nothing is queued.
    if (request.fault?.status !== undefined) return this.startAsync(request);
    return this.asyncQueue.submit(request);
  }

  checkAsync(request: AsyncRequest): void {
    // Whether this server has room is not asked: whichever server of the deployment has room runs it.
    const { fn } = this.deps.apps.resolve(request.appName, request.functionName);
    const problems = fn.validateParams?.(request.params) ?? [];
    if (problems.length > 0) throw invalidParams(problems);
  }

  runQueued(queued: QueuedRun): Run {
    const { appName, functionName, paramsJson, webhook, fault } = queued;
    const run = this.track(new Run(queuedRunInit(queued)), true);
    if (fault) this.deps.faults?.count(appName, functionName, fault);
    if (webhook) this.deps.webhooks.sendWhenDone(run, webhook);
    try {
      const { app } = this.deps.apps.resolve(appName, functionName);
      this.execute(app, run, false, Buffer.byteLength(paramsJson));
    } catch (err) {
      // The function went away (a reload) between the run's acceptance and now: it ends here, recorded.
      this.live.delete(run.id);
      run.fail(serializeError(err));
    }
    return run;
  }

  freeCapacity(appName: string): number {
    let app: LoadedApp;
    try {
      app = this.deps.apps.resolveApp(appName);
    } catch {
      return 0;
    }
    const { replicaConcurrency, maxReplicas } = app.config.scaling;
    const { busy, queued } = app.runtime.stats;
    return Math.max(0, maxReplicas * replicaConcurrency - busy - queued);
  }

  cancelHere(runId: string): boolean {
    const live = this.live.get(runId);
    live?.requestCancel('Cancelled through the runs API');
    return live !== undefined;
  }

  cancelledInQueue(queued: QueuedRun, reason: string): void {
    if (!queued.webhook) return;
    // Its record says cancelled already; this Run is only what its webhook describes, so nothing tracks it.
    const run = new Run(queuedRunInit(queued));
    run.cancel(reason);
    this.deps.webhooks.sendWhenDone(run, queued.webhook);
  }

  liveRunIds(): string[] {
    return [...this.live.keys()];
  }

  fence(runId: string): boolean {
    const live = this.live.get(runId);
    if (!live) return false;
    // Whoever holds it now speaks for it; a webhook from here would be a second, with another outcome.
    this.deps.webhooks.withdraw(runId);
    live.requestCancel('Another server of the deployment holds the run now (this server held it too long without renewing)');
    return true;
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
    if (!live) return this.cancelElsewhere(stored);
    live.requestCancel('Cancelled through the runs API');
    await waitAtMost(live.settled(), CANCEL_WAIT_MS);
    return this.get(ref);
  }

  /** A run not live here: another server of the deployment may hold it (or the shared queue); 409 when none does. */
  private async cancelElsewhere(stored: StoredRun): Promise<RunRecord> {
    const unfinished = stored.status === 'pending' || stored.status === 'running';
    if (!unfinished || !(await this.deps.peers?.cancel(stored.id))) {
      throw new CerebriumLocalError('run_finished', `Run "${stored.id}" has already ended (${stored.status})`);
    }
    // The store alone is read while waiting; webhook attempts once, for the answer.
    const deadline = Date.now() + CANCEL_WAIT_MS;
    let record = stored;
    do {
      await sleep(CANCEL_POLL_MS);
      record = (await this.deps.repository.get(stored.id)) ?? record;
    } while ((record.status === 'pending' || record.status === 'running') && Date.now() <= deadline);
    return this.withAttempts(record);
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

    const fault = request.fault;
    const run = this.track(new Run({ projectId, appName, functionName, params, paramsJson, async, webhookEndpoint: webhook?.url, fault }));
    if (fault) this.deps.faults?.count(appName, functionName, fault);
    // An async run's webhook waits until its record is stored (startAsync): a refused run has none.
    if (webhook && !async) this.deps.webhooks.sendWhenDone(run, webhook);
    return { app, fn, run };
  }

  /** Attaches what listens to a new run (log, metrics, record) and keeps it while it is live. */
  private track(run: Run, alreadyStored = false): Run {
    const { log, metrics, repository, describe } = this.deps;
    logRunOutcome(run, log);
    metrics?.observe(run);
    const maxStoredResultBytes = this.deps.maxStoredResultBytes ?? DEFAULTS.maxStoredResultBytes;
    recordRun(run, { repository, describe, log, maxStoredResultBytes, alreadyStored });
    run.on('transition', this.tellWatchers);
    this.live.set(run.id, run);
    if (this.watchers.size > 0) this.tellWatchers(run);
    return run;
  }

  private execute(app: LoadedApp, run: Run, stream: ChunkEncoding | false, paramsBytes?: number) {
    const { id: runId, projectId, functionName, params } = run;
    const request = { runId, projectId, functionName, params, stream };
    if (run.fault) return executeWithFaults(app, run, request, this.eventsFor(run), paramsBytes);
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
      logs: (lines) => this.logBook.append(run, lines),
    };
  }

  private readonly tellWatchers = (run: Run): void => {
    for (const watcher of this.watchers) watcher(run);
  };

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

/** A run taken from (or cancelled in) a shared queue, as it was accepted on whichever server. */
function queuedRunInit(queued: QueuedRun): RunInit {
  const { id, projectId, appName, functionName, paramsJson, webhook, fault } = queued;
  const params = JSON.parse(paramsJson) as Record<string, unknown>;
  const createdAt = new Date(queued.createdAt);
  return { id, projectId, appName, functionName, params, paramsJson, async: true, webhookEndpoint: webhook?.url, fault, createdAt };
}
