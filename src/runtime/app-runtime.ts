// One app's capacity, shaped by [cerebrium.scaling]: an admission queue in front of its replica
// backend. It takes a run's request and cancel signal, carries the run to a replica and says how it
// ended. It never sees an HTTP request, nor the Run object of the layer above.
import { appEnvironment } from '../config/app-env.ts';
import type { AppConfig } from '../config/load-config.ts';
import { DEFAULTS } from '../defaults.ts';
import { queueFull } from '../errors.ts';
import { visibleGpuCount } from '../models/gpu-placement.ts';
import type { ExportInfo, ReplicaData, ReplicaModelSettings, RunRequest } from '../replica-protocol.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { Execution, type ExecutionEvents, type ExecutionLimits, type InjectedRunFaults } from './execution.ts';
import type { ReplicaBackend } from './replica-backend.ts';
import { ThreadBackend } from './thread-backend.ts';

export interface RuntimeOptions {
  /** The project id the server emulates (PROJECT_ID in replicas). */
  projectId: string;
  logLevel: string;
  prettyLogs: boolean;
  /** Runs that may wait for capacity before callers get 429. */
  maxQueue: number;
  /** Bytes of params that runs waiting for capacity may hold before callers get 429 (default: DEFAULTS.maxQueueBytes). */
  maxQueueBytes?: number;
  /** How long an aborted function gets to return before its replica is replaced. */
  abortGraceMs: number;
  /** --execution-provider: where model sessions' provider chain starts, instead of compute's choice. */
  executionProvider?: string;
  /** --strict-provider: compute's GPU provider must load (an --execution-provider always must). */
  strictProvider?: boolean;
  /** --pass-env: the server's variables replicas get besides the few every replica inherits. */
  passEnv?: readonly string[];
}

export interface RunExecution {
  /** A generator's chunks as they are produced (empty for other functions). */
  chunks(): AsyncIterable<unknown>;
  /** The same chunks, every one that arrived since the last take at once: for writers that batch. */
  chunkBatches(): AsyncIterable<unknown[]>;
}

export interface ExecuteOptions {
  /** false: response_grace_period does not apply (a WebSocket session lasts as long as it is open). */
  deadline?: boolean;
  /** The size of the run's params (its request body), held against --max-queue-bytes while it waits. */
  paramsBytes?: number;
  /** Faults injected into the run (latency, a cold start). */
  fault?: InjectedRunFaults;
}

export interface RuntimeStats {
  replicas: number;
  busy: number;
  queued: number;
  /** Replicas started since this runtime was made (each a cold start); a reload (--watch) starts again from 0. */
  replicaStarts: number;
}

export class AppRuntime {
  private readonly admission: AdmissionQueue;
  private readonly backend: ReplicaBackend;
  private readonly limits: ExecutionLimits;
  /** Settles once the backend's warm replicas are up; rejects if they could not start. */
  readonly started: Promise<void>;

  /** Everything a replica of this app is given when it starts; read once per (re)load of the app. */
  static replicaData(config: AppConfig, modules: string[], options: RuntimeOptions): ReplicaData {
    return {
      appName: config.name,
      appDir: config.dir,
      modules,
      env: appEnvironment(config, options),
      logLevel: options.logLevel,
      prettyLogs: options.prettyLogs,
      models: modelSettings(config, options),
    };
  }

  /** Imports the app's modules in a throwaway replica and lists their exports. */
  static inspect(replicaData: ReplicaData): Promise<ExportInfo[]> {
    // The throwaway replica only lists exports: it never warms models up.
    const models = replicaData.models && { ...replicaData.models, warmUp: false };
    return ThreadBackend.inspect({ ...replicaData, models });
  }

  /** The runtime of an app whose replicas are worker threads (TypeScript and JavaScript apps). */
  static withThreads(config: AppConfig, replicaData: ReplicaData, options: RuntimeOptions): AppRuntime {
    return new AppRuntime(config, new ThreadBackend(config, replicaData), options);
  }

  constructor(
    readonly config: AppConfig,
    backend: ReplicaBackend,
    options: Pick<RuntimeOptions, 'maxQueue' | 'maxQueueBytes' | 'abortGraceMs'>,
  ) {
    const { scaling } = config;
    this.limits = { graceSeconds: scaling.responseGracePeriod, abortGraceMs: options.abortGraceMs };
    const maxQueueBytes = options.maxQueueBytes ?? DEFAULTS.maxQueueBytes;
    this.admission = new AdmissionQueue(scaling.maxReplicas * scaling.replicaConcurrency, options.maxQueue, maxQueueBytes);
    this.backend = backend;
    this.started = backend.start();
  }

  get stats(): RuntimeStats {
    const { replicas, starts } = this.backend.health();
    return { replicas, busy: this.admission.inFlight, queued: this.admission.waiting, replicaStarts: starts };
  }

  /** Refuses a run (of `paramsBytes` of params) at once when the queue is full, before a run exists for it. */
  assertCanAccept(paramsBytes = 0): void {
    if (this.admission.fullFor(paramsBytes)) {
      const { waiting, waitingBytes } = this.admission;
      throw queueFull(
        `App "${this.config.name}" has ${waiting} runs holding ${waitingBytes} bytes of params waiting for capacity, its limit (--max-queue, --max-queue-bytes); try again shortly`,
      );
    }
  }

  /**
   * Runs `request` under this app's limits. `cancelSignal` stops it wherever it is; `events` hears
   * when a replica begins it and how it ended.
   */
  execute(request: RunRequest, cancelSignal: AbortSignal, events: ExecutionEvents, options: ExecuteOptions = {}): RunExecution {
    const limits = options.deadline === false ? { ...this.limits, graceSeconds: Number.POSITIVE_INFINITY } : this.limits;
    const execution = new Execution(
      request,
      cancelSignal,
      this.backend,
      this.admission,
      limits,
      events,
      options.paramsBytes,
      options.fault,
    );
    void execution.start();
    return { chunks: () => execution.channel.take(), chunkBatches: () => execution.channel.takeBatches() };
  }

  /** Closes once every run it accepted has finished: for an app replaced by a reload. */
  async retire(): Promise<void> {
    await this.admission.idle();
    await this.close();
  }

  async close(): Promise<void> {
    await this.backend.stop();
  }
}

/** What src/models needs to pick a provider and size its threads inside a replica. */
function modelSettings(config: AppConfig, options: RuntimeOptions): ReplicaModelSettings {
  const settings: ReplicaModelSettings = {
    compute: config.hardware.compute,
    cpu: config.hardware.cpu,
    maxReplicas: config.scaling.maxReplicas,
    gpus: visibleGpuCount(config.hardware.gpuCount, process.env.CUDA_VISIBLE_DEVICES),
    // Shared by the app's replicas: each takes the next number, and so the next GPU (round robin).
    replicaCounter: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)),
    warmUp: config.scaling.minReplicas > 0,
  };
  if (options.executionProvider) settings.executionProvider = options.executionProvider;
  if (options.strictProvider) settings.strictProvider = true;
  return settings;
}
