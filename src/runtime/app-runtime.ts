// One app's replicas: a piscina pool of worker threads shaped by [cerebrium.scaling], behind an
// admission queue. It takes a Run, carries it into a replica and moves the Run through its states.
// It never sees an HTTP request.
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { appEnvironment } from '../config/app-env.ts';
import type { AppConfig } from '../config/load-config.ts';
import { CerebriumLocalError, type SerializedError } from '../errors.ts';
import type { Run } from '../runs/run.ts';
import type {
  ChunkEncoding,
  ExportInfo,
  InspectResult,
  ReplicaData,
  ReplicaModelSettings,
  RunResult,
  RunTask,
} from '../worker/protocol.ts';
import { closeNativeCalls } from '../worker/native-calls.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { RunChannel } from './run-channel.ts';

/** How often a replica due for replacement is checked for native calls still running. */
const NATIVE_IDLE_POLL_MS = 20;

const REPLICA_ENTRY = fileURLToPath(new URL('../worker/bootstrap.mjs', import.meta.url));

export interface RuntimeOptions {
  /** The project id the server emulates (PROJECT_ID in replicas). */
  projectId: string;
  logLevel: string;
  prettyLogs: boolean;
  /** Runs that may wait for capacity before callers get 429. */
  maxQueue: number;
  /** How long an aborted function gets to return before its replica is replaced. */
  abortGraceMs: number;
  /** --execution-provider: where model sessions' provider chain starts, instead of compute's choice. */
  executionProvider?: string;
}

export interface RunExecution {
  /** A generator's chunks as they are produced (empty for other functions). */
  chunks(): AsyncIterable<unknown>;
  /** Resolves when the run has reached success, failure or cancelled. */
  settled: Promise<Run>;
}

export class AppRuntime {
  private readonly pool: Piscina;
  private readonly admission: AdmissionQueue;
  /** Each replica's count of onnxruntime calls in flight, by thread id. */
  private readonly nativeCalls = new Map<number, Int32Array>();

  /** Everything a replica of this app is given when it starts; read once per (re)load of the app. */
  static replicaData(config: AppConfig, modules: string[], options: RuntimeOptions): ReplicaData {
    return {
      appName: config.name,
      appDir: config.dir,
      modules,
      env: appEnvironment(config, options.projectId),
      logLevel: options.logLevel,
      prettyLogs: options.prettyLogs,
      models: modelSettings(config, options),
    };
  }

  constructor(
    readonly config: AppConfig,
    replicaData: ReplicaData,
    private readonly options: RuntimeOptions,
  ) {
    const { scaling, hardware } = config;
    this.admission = new AdmissionQueue(scaling.maxReplicas * scaling.replicaConcurrency, options.maxQueue);
    this.pool = new Piscina({
      filename: REPLICA_ENTRY,
      workerData: replicaData,
      minThreads: scaling.minReplicas,
      maxThreads: scaling.maxReplicas,
      concurrentTasksPerWorker: scaling.replicaConcurrency,
      idleTimeout: scaling.cooldown * 1000,
      // Replicas must keep their event loop turning between tasks (async functions, abort messages).
      atomics: 'disabled',
      // The admission queue bounds waiting runs; piscina only holds what has been admitted.
      maxQueue: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(64, Math.round(hardware.memory * 1024)) },
    });
    this.pool.on('workerDestroy', (worker: { threadId: number }) => this.nativeCalls.delete(worker.threadId));
  }

  /** Imports the app's modules in a throwaway replica, given what its replicas get, and lists their exports. */
  static async inspect(replicaData: ReplicaData): Promise<ExportInfo[]> {
    const inspector = new Piscina({ filename: REPLICA_ENTRY, workerData: replicaData, minThreads: 0, maxThreads: 1, atomics: 'disabled' });
    try {
      const result = (await inspector.run({ type: 'inspect' })) as InspectResult;
      if (!result.ok) {
        const err = new Error(result.error.message);
        err.name = result.error.name;
        if (result.error.stack) err.stack = result.error.stack;
        throw err;
      }
      return result.exports;
    } finally {
      await inspector.destroy();
    }
  }

  get stats(): { replicas: number; busy: number; queued: number } {
    return { replicas: this.pool.threads.length, busy: this.admission.inFlight, queued: this.admission.waiting };
  }

  /** Refuses a run at once when the queue is full, before a run exists for it. */
  assertCanAccept(): void {
    if (this.admission.full) {
      const err = new CerebriumLocalError(
        429,
        'unavailable_error',
        'queue_full',
        `App "${this.config.name}" has ${this.admission.waiting} runs waiting for capacity, its limit (--max-queue); try again shortly`,
      );
      err.headers = { 'retry-after': '1' };
      throw err;
    }
  }

  execute(run: Run, stream: ChunkEncoding | false): RunExecution {
    const { port1, port2 } = new MessageChannel();
    const placement: { threadId?: number } = {};
    const channel = new RunChannel(port1, (threadId, nativeCalls) => {
      placement.threadId = threadId;
      if (nativeCalls) this.nativeCalls.set(threadId, nativeCalls);
      // A run can time out before a replica picks it up; it stays failed (and is aborted at once).
      if (!run.done) run.markRunning();
    });
    // The caller's answer waits for the run's final state, not for the replica: a run that timed out
    // is answered at once, while its replica may take a little longer to stop.
    void this.drive(run, channel, port2, stream, placement);
    return { chunks: () => channel.chunks(), settled: run.settled() };
  }

  private async drive(
    run: Run,
    channel: RunChannel,
    port: MessagePort,
    stream: ChunkEncoding | false,
    placement: { threadId?: number },
  ): Promise<void> {
    const graceMs = this.config.scaling.responseGracePeriod * 1000;
    // Stop waiting or running when the caller cancels or the grace period ends, whichever is first.
    // (Two listeners rather than AbortSignal.any, which costs far more per run.)
    const stopping = new AbortController();
    const stop = stopping.signal;
    const onCancel = () => stopping.abort(run.cancelSignal.reason);
    run.cancelSignal.addEventListener('abort', onCancel, { once: true });
    const deadlineTimer = setTimeout(() => {
      if (!run.done) run.fail(timedOut(this.config.scaling.responseGracePeriod));
      stopping.abort('The run exceeded response_grace_period');
    }, graceMs);

    try {
      await this.admission.acquire(stop);
    } catch (reason) {
      clearTimeout(deadlineTimer);
      run.cancelSignal.removeEventListener('abort', onCancel);
      channel.close({ ok: false, error: { name: 'Cancelled', message: String(reason), aborted: true }, runTimeMs: 0 });
      if (run.done) return;
      if (run.cancelSignal.aborted) run.cancel(`Cancelled while queued: ${String(run.cancelSignal.reason)}`);
      else run.fail({ name: 'QueueFull', message: String(reason) });
      return;
    }

    // A function that ignores ctx.signal gets abortGraceMs to return; then its replica is
    // terminated (piscina starts another), so capacity comes back. Not piscina's own task signal:
    // piscina runs abortable tasks one per thread, which would defeat replica_concurrency.
    let replaced = false;
    let replaceTimer: NodeJS.Timeout | undefined;
    const onStop = () => {
      channel.abort(run.cancelSignal.aborted ? String(run.cancelSignal.reason) : 'The run exceeded response_grace_period');
      replaceTimer = setTimeout(() => {
        replaced = true;
        const thread = this.pool.threads.find((t) => t.threadId === placement.threadId);
        if (thread) this.terminateWhenNativeIdle(thread);
        else channel.close({ ok: false, error: replacedAfterAbort(this.options.abortGraceMs), runTimeMs: 0 });
      }, this.options.abortGraceMs);
    };
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });

    const admitted = performance.now();
    try {
      const task: RunTask = {
        type: 'run',
        runId: run.id,
        projectId: run.projectId,
        functionName: run.functionName,
        params: run.params,
        stream,
        port,
      };
      this.pool.run(task, { transferList: [port] }).catch((err: unknown) => {
        // Only a replica that died (or was replaced) rejects: user errors come back as results.
        const error = replaced ? replacedAfterAbort(this.options.abortGraceMs) : replicaCrashed(err);
        channel.close({ ok: false, error, runTimeMs: performance.now() - admitted });
      });
      const result: RunResult = await channel.ended;
      if (run.done) return; // timed out already; the caller has had its 504
      if (result.ok) run.succeed(result.json, result.runTimeMs, result.statusCode);
      else if (run.cancelSignal.aborted) run.cancel(String(run.cancelSignal.reason), result.runTimeMs);
      else run.fail(result.error, result.runTimeMs);
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(replaceTimer);
      stop.removeEventListener('abort', onStop);
      run.cancelSignal.removeEventListener('abort', onCancel);
      this.admission.release();
    }
  }

  /**
   * Terminates a replica's thread once no onnxruntime call is running in it (terminating during one
   * would abort the whole process); piscina starts a new replica in its place.
   */
  private terminateWhenNativeIdle(thread: Worker): void {
    const gauge = this.nativeCalls.get(thread.threadId);
    if (gauge && !closeNativeCalls(gauge)) {
      setTimeout(() => this.terminateWhenNativeIdle(thread), NATIVE_IDLE_POLL_MS);
      return;
    }
    this.nativeCalls.delete(thread.threadId);
    void thread.terminate();
  }

  /** Closes once every run it accepted has finished: for an app replaced by a reload. */
  async retire(): Promise<void> {
    await this.admission.idle();
    await this.close();
  }

  async close(): Promise<void> {
    await this.pool.close({ force: false });
  }
}

/** What src/models needs to pick a provider and size its threads inside a replica. */
function modelSettings(config: AppConfig, options: RuntimeOptions): ReplicaModelSettings {
  const settings: ReplicaModelSettings = {
    compute: config.hardware.compute,
    cpu: config.hardware.cpu,
    maxReplicas: config.scaling.maxReplicas,
  };
  if (options.executionProvider) settings.executionProvider = options.executionProvider;
  return settings;
}

function timedOut(graceSeconds: number): SerializedError {
  return {
    name: 'TimeoutError',
    message: `The run did not finish within response_grace_period (${graceSeconds} s); it was aborted`,
    timedOut: true,
  };
}

function replacedAfterAbort(abortGraceMs: number): SerializedError {
  return {
    name: 'ReplicaReplaced',
    message: `The function did not stop within ${abortGraceMs} ms of being aborted; its replica was replaced`,
    crashed: true,
  };
}

function replicaCrashed(err: unknown): SerializedError {
  const detail = err instanceof Error ? err.message : String(err);
  return {
    name: 'ReplicaCrashed',
    message: `The replica running this function crashed (${detail}); a new replica takes its place`,
    crashed: true,
  };
}
