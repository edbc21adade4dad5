// Replicas that are worker threads: a piscina pool shaped by [cerebrium.scaling], one MessagePort
// per run carrying the replica protocol. TypeScript and JavaScript apps run here.

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { AppConfig } from '../config/load-config.ts';
import type { SerializedError } from '../errors.ts';
import { closeNativeCalls } from '../models/native-calls.ts';
import type {
  ExportInfo,
  InspectResult,
  ReplicaData,
  ReplicaMessage,
  ReplicaWarmedMessage,
  RunRequest,
  RunResult,
  RunTask,
  ServerMessage,
} from '../replica-protocol.ts';
import type { BackendHealth, DispatchOptions, ReplicaBackend, RunHandle, RunListener } from './replica-backend.ts';

/** How often a replica due for replacement is checked for native calls still running. */
const NATIVE_IDLE_POLL_MS = 20;

/** How many times a run may be handed on after landing on a replica that ended before beginning it. */
const MAX_REQUEUES = 3;

const REPLICA_ENTRY = fileURLToPath(new URL('../worker/bootstrap.mjs', import.meta.url));

export class ThreadBackend implements ReplicaBackend {
  private readonly pool: Piscina;
  /** Each replica's count of onnxruntime calls in flight, by thread id. */
  private readonly nativeCalls = new Map<number, Int32Array>();
  /** Resolves once min_replicas threads have warmed up (at once when they do not warm up). */
  private readonly warmedUp: Promise<void>;
  /** Threads started since the pool was made (piscina's workerCreate), injected cold starts included. */
  private starts = 0;
  private readonly countStart = () => {
    this.starts += 1;
  };

  constructor(config: AppConfig, replicaData: ReplicaData) {
    const { scaling, hardware } = config;
    this.pool = new Piscina({
      filename: REPLICA_ENTRY,
      workerData: replicaData,
      // The thread's process.env is this, not a copy of the server's (which holds its secrets).
      env: replicaData.env,
      minThreads: scaling.minReplicas,
      maxThreads: scaling.maxReplicas,
      concurrentTasksPerWorker: scaling.replicaConcurrency,
      idleTimeout: scaling.cooldown * 1000,
      // Replicas must keep their event loop turning between tasks (async functions, abort messages).
      atomics: 'disabled',
      // The runtime's admission queue bounds waiting runs; piscina only holds what has been admitted.
      maxQueue: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(64, Math.round(hardware.memory * 1024)) },
    });
    this.pool.on('workerDestroy', (worker: { threadId: number }) => this.nativeCalls.delete(worker.threadId));
    this.warmedUp = replicaData.models?.warmUp && scaling.minReplicas > 0 ? this.replicasWarmed(scaling.minReplicas) : Promise.resolve();
    // Emitted on a later microtask even for the min_replicas threads made in the constructor, so none is missed.
    this.pool.on('workerCreate', this.countStart);
  }

  /** Imports the app's modules in a throwaway thread, given what its replicas get, and lists their exports. */
  static async inspect(replicaData: ReplicaData): Promise<ExportInfo[]> {
    const inspector = new Piscina({
      filename: REPLICA_ENTRY,
      workerData: replicaData,
      env: replicaData.env,
      minThreads: 0,
      maxThreads: 1,
      atomics: 'disabled',
    });
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

  /**
   * piscina starts min_replicas threads as the pool is made; each imports the app on its first run,
   * or, when it warms up (declared models), before it, and then says so: the app is started once
   * min_replicas of them have.
   */
  start(): Promise<void> {
    return this.warmedUp;
  }

  run(request: RunRequest, listener: RunListener, options?: DispatchOptions): RunHandle {
    const run: ThreadRun = { request, listener, sent: performance.now(), ended: false, requeues: 0 };
    if (options?.freshReplica) run.pool = this.freshReplica();
    this.dispatch(run);
    const send = (message: ServerMessage) => {
      if (!run.ended) run.port?.postMessage(message);
    };
    return {
      abort: (reason) => {
        run.aborted = true;
        send({ type: 'abort', reason });
      },
      credit: (n) => send({ type: 'credit', n }),
      replaceReplica: (message) => {
        run.replacedBecause = message;
        const thread = (run.pool ?? this.pool).threads.find((t) => t.threadId === run.replica);
        if (thread) this.terminateWhenNativeIdle(thread);
        else endRun(run, { ok: false, error: replaced(message), runTimeMs: 0 });
      },
    };
  }

  /** Hands the run to piscina with a port of its own; again if the replica it went to ended before beginning it. */
  private dispatch(run: ThreadRun): void {
    const { port1, port2 } = new MessageChannel();
    run.port = port1;
    const onMessage = (message: ReplicaMessage) => {
      if (message.type === 'started') {
        run.replica = message.replica;
        if (message.nativeCalls) this.nativeCalls.set(message.replica, message.nativeCalls);
        run.listener.started();
      } else if (message.type === 'chunks') {
        run.listener.chunks(message.data);
      } else if (message.type === 'logs') {
        run.listener.logs?.(message.lines);
      } else {
        endRun(run, message.result);
      }
    };
    port1.on('message', onMessage);
    const { runId, projectId, functionName, params, stream } = run.request;
    const task: RunTask = { type: 'run', runId, projectId, functionName, params, stream, port: port2 };
    (run.pool ?? this.pool).run(task, { transferList: [port2] }).catch((err: unknown) => {
      // What the replica sent before it died (its `started`, above all) may still be queued behind
      // this rejection: take it now, so a run that began is never mistaken for one that did not.
      for (let queued = receiveMessageOnPort(port1); queued; queued = receiveMessageOnPort(port1)) {
        onMessage(queued.message as ReplicaMessage);
      }
      if (run.ended) return;
      // A run handed to a replica that was being replaced (piscina may still pick a thread it is
      // terminating) and never began there is requeued: it did nothing, so it has nothing to fail.
      if (run.replica === undefined && !run.aborted && run.replacedBecause === undefined && run.requeues < MAX_REQUEUES) {
        run.requeues += 1;
        port1.close();
        this.dispatch(run);
        return;
      }
      // Only a replica that died (or was replaced) rejects: user errors come back as results.
      const error = run.replacedBecause === undefined ? replicaCrashed(err) : replaced(run.replacedBecause);
      endRun(run, { ok: false, error, runTimeMs: performance.now() - run.sent });
    });
  }

  /**
   * An injected cold start: a pool of one replica, started for one run (the app imported anew, as
   * on a new replica) and destroyed once the run ends; the warm replicas are left as they were.
   */
  private freshReplica(): Piscina {
    const pool = new Piscina({ ...this.pool.options, minThreads: 1, maxThreads: 1, idleTimeout: 0 });
    pool.on('workerDestroy', (worker: { threadId: number }) => this.nativeCalls.delete(worker.threadId));
    pool.on('workerCreate', this.countStart);
    return pool;
  }

  /** Waits for `count` replicas' `warmed` messages (piscina passes on what a thread posts on its parentPort). */
  private replicasWarmed(count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let warmed = 0;
      const onMessage = (message: unknown) => {
        if ((message as Partial<ReplicaWarmedMessage> | null)?.type !== 'warmed' || ++warmed < count) return;
        this.pool.off('message', onMessage);
        this.pool.off('error', onError);
        resolve();
      };
      const onError = (err: unknown) => {
        this.pool.off('message', onMessage);
        reject(err);
      };
      this.pool.on('message', onMessage);
      this.pool.once('error', onError);
    });
  }

  health(): BackendHealth {
    return { replicas: this.pool.threads.length, starts: this.starts };
  }

  async stop(): Promise<void> {
    await this.pool.close({ force: false });
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
}

/** One run on its way through the thread pool, across requeues. */
interface ThreadRun {
  request: RunRequest;
  listener: RunListener;
  sent: number;
  /** The port of its current dispatch. */
  port?: MessagePort;
  /** The thread that began it (set by its `started`). */
  replica?: number;
  ended: boolean;
  aborted?: boolean;
  replacedBecause?: string;
  requeues: number;
  /** A pool of its own, for an injected cold start; destroyed when the run ends. */
  pool?: Piscina;
}

function endRun(run: ThreadRun, result: RunResult): void {
  if (run.ended) return;
  run.ended = true;
  run.port?.close();
  if (run.pool) void run.pool.destroy();
  run.listener.end(result);
}

function replaced(message: string): SerializedError {
  return { name: 'ReplicaReplaced', message, crashed: true };
}

function replicaCrashed(err: unknown): SerializedError {
  const detail = err instanceof Error ? err.message : String(err);
  return {
    name: 'ReplicaCrashed',
    message: `The replica running this function crashed (${detail}); a new replica takes its place`,
    crashed: true,
  };
}
