// What an app runtime needs from its replicas, whatever they are: worker threads (TypeScript apps),
// processes (Python apps) or an HTTP upstream (custom runtimes). Admission, the FIFO queue and 429,
// response_grace_period, cancel, replacement of a replica that ignores an abort, and metrics live
// in the runtime above this interface, so every kind of replica gets them the same way.
import type { RunLogLine, RunRequest, RunResult } from '../replica-protocol.ts';

/** What a replica reports about one run, in this order: `started` once, `chunks` any number of times, `end` once. */
export interface RunListener {
  /** The function has begun on a replica (cold start and queue time end here). */
  started(): void;
  /** Chunks of a streaming generator, in order. */
  chunks(data: unknown[]): void;
  /** Lines the function logged, in order; before `end`. Optional: a backend may have none to report. */
  logs?(lines: RunLogLine[]): void;
  /**
   * The run's result. A replica that died (the crash notice) ends each of its runs with an error
   * whose `crashed` is set; it is never left without an end.
   */
  end(result: RunResult): void;
}

/** The runtime's handle on one run a backend has taken. */
export interface RunHandle {
  /** Aborts the function's ctx.signal: cooperative, the replica and its loaded models stay. */
  abort(reason: string): void;
  /** The client has taken `n` more chunks: the replica may make `n` more. */
  credit(n: number): void;
  /**
   * The function ignored its abort for too long: stop the replica running it (another takes its
   * place) and end the run with an error whose `crashed` is set. `message` says why.
   */
  replaceReplica(message: string): void;
}

/** Where one run is to go; absent: wherever the backend sees fit. */
export interface DispatchOptions {
  /** On a replica started for it (an injected cold start), not a warm one. A backend that cannot, ignores it. */
  freshReplica?: boolean;
}

export interface BackendHealth {
  /** Replicas running now (warm or busy). */
  replicas: number;
  /** Replicas started since the backend was made (each a cold start), those it replaced included. */
  starts: number;
}

export interface ReplicaBackend {
  /** Brings up the replicas kept warm (min_replicas); resolves once they are started. */
  start(): Promise<void>;
  /** Hands one admitted run to a replica. The runtime never gives more runs than its capacity. */
  run(request: RunRequest, listener: RunListener, options?: DispatchOptions): RunHandle;
  health(): BackendHealth;
  /** Stops every replica once the runs they hold have ended. */
  stop(): Promise<void>;
}
