// Replicas that are processes: Python apps (main.py). Each replica is `python3 bridge.py serve`,
// which imports the app once (the cold start) and serves up to replica_concurrency runs at once.
// The protocol is JSON lines on the child's fd 3 (src/replica-protocol.ts); what user code prints
// on stdout and stderr becomes log lines. A replica is started when a run finds no free slot, kept
// warm for `cooldown` seconds when idle (min_replicas always), and replaced when it dies.
import type { Logger } from 'pino';
import type { ScalingConfig } from '../config/load-config.ts';
import type { SerializedError } from '../errors.ts';
import type { ReplicaMessage, RunRequest } from '../replica-protocol.ts';
import { toSseFrame } from '../worker/sse-frame.ts';
import { PythonProcess } from './python-process.ts';
import type { BackendHealth, ReplicaBackend, RunHandle, RunListener } from './replica-backend.ts';

export interface ProcessBackendOptions {
  /** The interpreter: `python3` on PATH, or --python. */
  python: string;
  appName: string;
  appDir: string;
  /** The app's environment on top of the server's (APP_NAME, PROJECT_ID, its .env). */
  env: Record<string, string>;
  scaling: Pick<ScalingConfig, 'minReplicas' | 'maxReplicas' | 'replicaConcurrency' | 'cooldown'>;
  log: Logger;
}

/** One run in a replica: who hears about it and how its chunks are framed. */
interface RunSlot {
  listener: RunListener;
  sse: boolean;
  /** Set when the run's replica is being replaced: its end says so. */
  replacedBecause?: string;
}

/** A replica process and the runs it holds. */
class Replica {
  readonly runs = new Map<string, RunSlot>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly process: PythonProcess) {}

  get active(): number {
    return this.runs.size;
  }

  /** Counts idle time from now; `onIdle` runs after `ms` unless a run arrives first. */
  idleFor(ms: number, onIdle: () => void): void {
    this.stayAwake();
    this.idleTimer = setTimeout(onIdle, ms);
    this.idleTimer.unref();
  }

  stayAwake(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

export class ProcessBackend implements ReplicaBackend {
  private readonly replicas: Replica[] = [];
  private stopping = false;

  constructor(private readonly options: ProcessBackendOptions) {}

  /** Starts min_replicas processes and waits until each has imported the app. */
  async start(): Promise<void> {
    const warm = Array.from({ length: this.options.scaling.minReplicas }, () => this.spawn());
    await Promise.all(warm.map((replica) => replica.process.ready));
  }

  run(request: RunRequest, listener: RunListener): RunHandle {
    const replica = this.replicaWithRoom();
    const slot: RunSlot = { listener, sse: request.stream === 'sse' };
    replica.stayAwake();
    replica.runs.set(request.runId, slot);
    // The bridge sends raw values; SSE framing is done here, by the same rules as for thread replicas.
    replica.process.send({ type: 'run', ...request, stream: request.stream === false ? false : 'raw' });
    return {
      abort: (reason) => replica.process.send({ type: 'abort', runId: request.runId, reason }),
      credit: (n) => replica.process.send({ type: 'credit', runId: request.runId, n }),
      replaceReplica: (message) => {
        slot.replacedBecause = message;
        this.retire(replica);
        replica.process.kill();
      },
    };
  }

  health(): BackendHealth {
    return { replicas: this.replicas.length };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.replicas.splice(0).map((replica) => replica.process.stop()));
  }

  /** A replica with a free slot, or a new one (admission never asks for more than max_replicas hold). */
  private replicaWithRoom(): Replica {
    const { replicaConcurrency } = this.options.scaling;
    let best: Replica | undefined;
    for (const replica of this.replicas) {
      if (replica.active < replicaConcurrency && (!best || replica.active < best.active)) best = replica;
    }
    return best ?? this.spawn();
  }

  private spawn(): Replica {
    const { python, appName, appDir, env, scaling, log } = this.options;
    const process = new PythonProcess({ python, appDir, env, concurrency: scaling.replicaConcurrency, log: log.child({ app: appName }) });
    const replica = new Replica(process);
    this.replicas.push(replica);
    process.on('run', (runId, message) => this.onRunMessage(replica, runId, message));
    process.on('exit', (error) => this.onExit(replica, error));
    // A replica that could not import the app is out of the pool at once; its runs end through onExit.
    process.ready.catch(() => this.retire(replica));
    return replica;
  }

  private onRunMessage(replica: Replica, runId: string, message: ReplicaMessage): void {
    const slot = replica.runs.get(runId);
    if (!slot) return;
    if (message.type === 'started') {
      slot.listener.started();
    } else if (message.type === 'chunks') {
      slot.listener.chunks(slot.sse ? message.data.map(toSseFrame) : message.data);
    } else if (message.type === 'end') {
      replica.runs.delete(runId);
      slot.listener.end(message.result);
      this.whenIdle(replica);
    }
  }

  /** The process is gone: each run it held ends, with the reason. */
  private onExit(replica: Replica, error: SerializedError): void {
    this.retire(replica);
    // min_replicas are kept warm: one that died is started again at once, not on the next call.
    if (!this.stopping && this.replicas.length < this.options.scaling.minReplicas && replica.process.wasReady) this.spawn();
    for (const [runId, slot] of replica.runs) {
      replica.runs.delete(runId);
      const ended = slot.replacedBecause === undefined ? error : { name: 'ReplicaReplaced', message: slot.replacedBecause, crashed: true };
      slot.listener.end({ ok: false, error: ended, runTimeMs: 0 });
    }
  }

  /** An idle replica beyond min_replicas goes after `cooldown` seconds without a run. */
  private whenIdle(replica: Replica): void {
    if (replica.active > 0 || this.stopping) return;
    replica.idleFor(this.options.scaling.cooldown * 1000, () => {
      if (replica.active > 0 || this.replicas.length <= this.options.scaling.minReplicas) return;
      this.retire(replica);
      void replica.process.stop();
    });
  }

  /** Takes a replica out of the pool, so new runs go elsewhere (or to a new one). */
  private retire(replica: Replica): void {
    replica.stayAwake();
    const at = this.replicas.indexOf(replica);
    if (at >= 0) this.replicas.splice(at, 1);
  }
}
