// Replicas that are processes: Python apps (main.py). Each replica is `python3 bridge.py serve`,
// which imports the app once (the cold start) and serves up to replica_concurrency runs at once.
// The protocol is JSON lines on the child's fd 3 (src/replica-protocol.ts); what user code prints
// on stdout and stderr becomes log lines. When replicas start and stop is the pool's (replica-pool.ts).
import type { Logger } from 'pino';
import type { SerializedError } from '../errors.ts';
import type { ReplicaMessage, RunRequest } from '../replica-protocol.ts';
import { toSseFrame } from '../worker/sse-frame.ts';
import { PythonProcess } from './python-process.ts';
import type { BackendHealth, DispatchOptions, ReplicaBackend, RunHandle, RunListener } from './replica-backend.ts';
import { type PooledReplica, type PoolScaling, ReplicaPool } from './replica-pool.ts';

export interface ProcessBackendOptions {
  /** The interpreter: `python3` on PATH, or --python. */
  python: string;
  appName: string;
  appDir: string;
  /** The replica's whole environment (src/config/app-env.ts): PATH, HOME, --pass-env names, .env, APP_NAME, PROJECT_ID. */
  env: Record<string, string>;
  scaling: PoolScaling;
  log: Logger;
}

/** One run in a replica: who hears about it and how its chunks are framed. */
interface RunSlot {
  listener: RunListener;
  sse: boolean;
  /** Set when the run's replica is being replaced: its end says so. */
  replacedBecause?: string;
}

type Replica = PooledReplica<PythonProcess, RunSlot>;

export class ProcessBackend implements ReplicaBackend {
  private readonly pool: ReplicaPool<PythonProcess, RunSlot>;

  constructor(private readonly options: ProcessBackendOptions) {
    this.pool = new ReplicaPool(
      options.scaling,
      () => this.startProcess(),
      (replica) => this.attach(replica),
    );
  }

  /** Starts min_replicas processes and waits until each has imported the app. */
  start(): Promise<void> {
    return this.pool.start();
  }

  run(request: RunRequest, listener: RunListener, options?: DispatchOptions): RunHandle {
    const slot: RunSlot = { listener, sse: request.stream === 'sse' };
    // An injected cold start gets a process of its own, which imports main.py anew and stops after the run.
    const replica = options?.freshReplica ? this.pool.takeFresh(request.runId, slot) : this.pool.take(request.runId, slot);
    // The bridge sends raw values; SSE framing is done here, by the same rules as for thread replicas.
    replica.process.send({ type: 'run', ...request, stream: request.stream === false ? false : 'raw' });
    return {
      abort: (reason) => replica.process.send({ type: 'abort', runId: request.runId, reason }),
      credit: (n) => replica.process.send({ type: 'credit', runId: request.runId, n }),
      replaceReplica: (message) => {
        slot.replacedBecause = message;
        this.pool.kill(replica);
      },
    };
  }

  health(): BackendHealth {
    return { replicas: this.pool.size, starts: this.pool.starts };
  }

  stop(): Promise<void> {
    return this.pool.stop();
  }

  private startProcess(): PythonProcess {
    const { python, appName, appDir, env, scaling, log } = this.options;
    return new PythonProcess({ python, appDir, env, concurrency: scaling.replicaConcurrency, log: log.child({ app: appName }) });
  }

  private attach(replica: Replica): void {
    replica.process.on('run', (runId, message) => this.onRunMessage(replica, runId, message));
    replica.process.on('exit', (error) => this.onExit(replica, error));
  }

  private onRunMessage(replica: Replica, runId: string, message: ReplicaMessage): void {
    const slot = replica.runs.get(runId);
    if (!slot) return;
    if (message.type === 'started') {
      slot.listener.started();
    } else if (message.type === 'chunks') {
      slot.listener.chunks(slot.sse ? message.data.map(toSseFrame) : message.data);
    } else if (message.type === 'logs') {
      slot.listener.logs?.(message.lines);
    } else if (message.type === 'end') {
      this.pool.release(replica, runId);
      slot.listener.end(message.result);
    }
  }

  /** The process is gone: each run it held ends, with the reason. */
  private onExit(replica: Replica, error: SerializedError): void {
    for (const [, slot] of this.pool.exited(replica)) {
      const ended = slot.replacedBecause === undefined ? error : { name: 'ReplicaReplaced', message: slot.replacedBecause, crashed: true };
      slot.listener.end({ ok: false, error: ended, runTimeMs: 0 });
    }
  }
}
