// The replica protocol: every message that crosses between the server and a replica, in one file.
// Thread replicas carry them by structured clone over a run's MessagePort; a replica that is a
// process carries the same shapes as JSON lines. Plain data only, and every shape is tested in
// test/unit/replica-protocol.test.ts. This file is a leaf: the runtime, the replica code and
// src/models import it, and it imports nothing of theirs.
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './errors.ts';

/** Given to every replica of an app when it starts (piscina's workerData). */
export interface ReplicaData {
  appName: string;
  appDir: string;
  /** Absolute paths of the modules whose exports are the app's functions. */
  modules: string[];
  /** The replica's whole environment (src/config/app-env.ts); none of the server's other variables. */
  env: Record<string, string>;
  logLevel: string;
  prettyLogs: boolean;
  /** What model sessions in this replica run on (src/models); defaults to CPU when absent. */
  models?: ReplicaModelSettings;
}

/** From [cerebrium.hardware] and [cerebrium.scaling], plus the --execution-provider override. */
export interface ReplicaModelSettings {
  compute: string[];
  cpu: number;
  maxReplicas: number;
  /** cuda, webgpu or cpu: where the provider chain starts instead of where compute says; it must load. */
  executionProvider?: string;
  /** --strict-provider: compute's first provider must load (no fallback). */
  strictProvider?: boolean;
  /** GPUs this app's replicas share (gpu_count, or CUDA_VISIBLE_DEVICES's count); CUDA device ids go round robin. */
  gpus?: number;
  /** One shared counter per app: each replica takes the next number, its place in the round robin. */
  replicaCounter?: Int32Array;
  /** min_replicas > 0: a replica loads the app's declared `models` and runs each once before taking runs. */
  warmUp?: boolean;
}

/**
 * A thread replica that warms up (ReplicaData.models.warmUp) says so on its parentPort once its
 * declared models have loaded and run (or failed to, which it logs): the app counts as started,
 * and /ready as ready, once min_replicas replicas have.
 */
export interface ReplicaWarmedMessage {
  type: 'warmed';
  replica: number;
}

export type FunctionKind = 'function' | 'generator' | 'async-generator';

/** How a chunk of a generator is sent: framed as SSE by the replica, or as the raw value. */
export type ChunkEncoding = 'sse' | 'raw';

/** One run, as a replica is asked to do it. */
export interface RunRequest {
  runId: string;
  projectId: string;
  functionName: string;
  params: Record<string, unknown>;
  /** Whether the caller wants a generator's chunks as they come (else they are gathered). */
  stream: ChunkEncoding | false;
}

/** What the replica answers for a run, once it has ended. User errors come back here, never as a rejection. */
export type RunResult =
  | { ok: true; json: string; statusCode?: number; runTimeMs: number }
  | { ok: false; error: SerializedError; runTimeMs: number };

/** Replica → server, about one run: `started`, any number of `chunks`, then exactly one `end`. */
export type ReplicaMessage =
  /**
   * `replica` says which replica runs it, so a stuck one can be replaced (a thread id here).
   * `nativeCalls` (thread replicas only, with a replica's first run) is its shared count of
   * onnxruntime calls in flight.
   */
  | { type: 'started'; replica: number; nativeCalls?: Int32Array }
  /** Chunks in the order the generator yielded them, as many as were ready together. */
  | { type: 'chunks'; data: unknown[] }
  /** Lines the function logged (ctx.log, console.*; a process: prints and `logging`), as many as were ready together. */
  | { type: 'logs'; lines: RunLogLine[] }
  /** The run's result, after every chunk. */
  | { type: 'end'; result: RunResult };

/** One line a function logged during its run, kept with the run (its logs in the runs API). */
export interface RunLogLine {
  /** Epoch milliseconds. */
  at: number;
  /** Where it was written: ctx.log / Python's `logging` ('log'), or the console / print ('stdout', 'stderr'). */
  stream: 'log' | 'stdout' | 'stderr';
  /** pino's level names: trace, debug, info, warn, error, fatal. */
  level: string;
  line: string;
}

/** Server → replica, about one run. */
export type ServerMessage =
  /** Aborts the function's ctx.signal; the function should stop and return. */
  | { type: 'abort'; reason: string }
  /** The server has sent `n` more chunks on to the client, so the replica may produce `n` more. */
  | { type: 'credit'; n: number };

/** Every message type, in each direction: the protocol's whole vocabulary. */
export const REPLICA_MESSAGE_TYPES = ['started', 'chunks', 'logs', 'end'] as const satisfies ReadonlyArray<ReplicaMessage['type']>;
export const SERVER_MESSAGE_TYPES = ['abort', 'credit'] as const satisfies ReadonlyArray<ServerMessage['type']>;

/** How many chunks a replica may send ahead of what the client has taken. */
export const CHUNK_CREDIT_WINDOW = 512;

/** The server hands credit back this many chunks at a time, so a replica is not woken for every chunk. */
export const CHUNK_CREDIT_BATCH = 64;

/**
 * Beyond CHUNK_CREDIT_BATCH chunks not yet credited back, a thread replica also holds the text of
 * the chunks in flight to this many characters: small chunks (tokens) get the whole window, large
 * ones stop at a batch, so a stream that is not read holds about this much, not 512 large chunks.
 */
export const CHUNK_CREDIT_CHARS = 1024 * 1024;

// Process replicas (Python apps): one JSON object per line on the child's fd 3, both ways. A process
// serves several runs at once, so every message about a run carries its `runId`; the rest are about
// the process itself. The child's stdout and stderr are never the protocol: what user code prints
// there becomes log lines.

/** Server → process. */
export type ProcessServerMessage = ({ type: 'run' } & RunRequest) | ({ runId: string } & ServerMessage);

/** A line printed by user code (stdout, stderr or `logging`), with the run it printed for when known. */
export interface ProcessLogLine {
  type: 'log';
  runId: string | null;
  stream: 'stdout' | 'stderr' | 'logging';
  /** For `logging` records: debug, info, warning, error or critical. */
  level?: string;
  line: string;
}

/** Process → server. */
export type ProcessReplicaMessage =
  /** The app's module is imported (the cold start is over); `pid` names the replica. */
  | { type: 'ready'; pid: number; python: string }
  /** The app's module could not be imported; the process exits after this. */
  | { type: 'failed'; error: SerializedError }
  | ({ runId: string } & ReplicaMessage)
  | ProcessLogLine
  /** The answer to `--inspect`: the module's exports, with a JSON Schema of each function's keyword arguments. */
  | { type: 'exports'; exports: ExportInfo[] };

export const PROCESS_SERVER_MESSAGE_TYPES = ['run', ...SERVER_MESSAGE_TYPES] as const satisfies ReadonlyArray<ProcessServerMessage['type']>;
export const PROCESS_REPLICA_MESSAGE_TYPES = [
  'ready',
  'failed',
  ...REPLICA_MESSAGE_TYPES,
  'log',
  'exports',
] as const satisfies ReadonlyArray<ProcessReplicaMessage['type']>;

/** A task for one run, handed to a thread replica with the run's own port (transferred). */
export interface RunTask extends RunRequest {
  type: 'run';
  port: MessagePort;
}

/** One export of an app module, as the inspection replica reports it. */
export interface ExportInfo {
  name: string;
  file: string;
  kind: FunctionKind | 'not-a-function';
  /** The JSON Schema of the body, when the function declared one. */
  paramsSchema?: Record<string, unknown>;
  description?: string;
}

/** Asks a throwaway replica to import the app and list its exports. */
export interface InspectTask {
  type: 'inspect';
}

export type InspectResult = { ok: true; exports: ExportInfo[] } | { ok: false; error: SerializedError };
