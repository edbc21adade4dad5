// The messages that cross between the server thread and a replica (worker thread).
// Plain data only: everything here goes through structured clone.
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../errors.ts';

/** Given to every replica of an app when it starts (piscina's workerData). */
export interface ReplicaData {
  appName: string;
  appDir: string;
  /** Absolute paths of the modules whose exports are the app's functions. */
  modules: string[];
  /** Environment the app's functions see on top of the server's. */
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
  /** cuda, webgpu or cpu: where the provider chain starts instead of where compute says. */
  executionProvider?: string;
}

export type FunctionKind = 'function' | 'generator' | 'async-generator';

/** How a chunk of a generator is sent: framed as SSE by the replica, or as the raw value. */
export type ChunkEncoding = 'sse' | 'raw';

/** A task for one run, handed to piscina. `port` carries control and chunks for this run only. */
export interface RunTask {
  type: 'run';
  runId: string;
  projectId: string;
  functionName: string;
  params: Record<string, unknown>;
  /** Whether the caller wants a generator's chunks as they come (else they are gathered). */
  stream: ChunkEncoding | false;
  port: MessagePort;
}

/** What the replica answers for a run, once it has ended. User errors come back here, never as a rejection. */
export type RunResult =
  | { ok: true; json: string; statusCode?: number; runTimeMs: number }
  | { ok: false; error: SerializedError; runTimeMs: number };

/** Replica → server, on the run's port. */
export type ReplicaMessage =
  /**
   * `threadId` says which replica runs it, so a stuck one can be terminated; `nativeCalls` (sent
   * with a replica's first run) is its shared count of onnxruntime calls in flight.
   */
  | { type: 'started'; threadId: number; nativeCalls?: Int32Array }
  /** Chunks in the order the generator yielded them, as many as were ready together. */
  | { type: 'chunks'; data: unknown[] };

/** Server → replica, on the run's port. */
export type ServerMessage =
  | { type: 'abort'; reason: string }
  /** The server has sent `n` more chunks on to the client, so the replica may produce `n` more. */
  | { type: 'credit'; n: number };

/** How many chunks a replica may send ahead of what the client has taken. */
export const CHUNK_CREDIT_WINDOW = 128;

/** One export of an app module, as the inspection replica reports it. */
export interface ExportInfo {
  name: string;
  file: string;
  kind: FunctionKind | 'not-a-function';
  /** The JSON Schema of the body, when the function declared one. */
  paramsSchema?: Record<string, unknown>;
  description?: string;
}

export interface InspectTask {
  type: 'inspect';
}

export type InspectResult =
  | { ok: true; exports: ExportInfo[] }
  | { ok: false; error: SerializedError };
