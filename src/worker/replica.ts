// The body of a replica: piscina calls the default export once per task. The app's modules are
// imported once per replica and kept, so whatever they load (models, tokenisers) stays warm.

import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { type SerializedError, serializeError } from '../errors.ts';
import type { FunctionContext } from '../function-spec.ts';
import type { Logger } from '../log.ts';
import { nativeCallGauge, replicaClosing } from '../models/native-calls.ts';
import {
  CHUNK_CREDIT_BATCH,
  CHUNK_CREDIT_CHARS,
  CHUNK_CREDIT_WINDOW,
  type InspectResult,
  type InspectTask,
  type ReplicaData,
  type ReplicaMessage,
  type ReplicaWarmedMessage,
  type RunResult,
  type RunTask,
  type ServerMessage,
} from '../replica-protocol.ts';
import { type LoadedExport, loadFunctions } from './load-functions.ts';
import { captureConsole, createRunLogger, RunLogSink, withRunLogs } from './run-log-capture.ts';
import { toSseFrame } from './sse-frame.ts';

const data = workerData as ReplicaData;
Object.assign(process.env, data.env);

const log: Logger = createRunLogger({ level: data.logLevel, pretty: data.prettyLogs }, { app: data.appName });
// What a function prints is kept with its run too (its logs in the runs API).
captureConsole();

let functions: Promise<Map<string, LoadedExport>> | undefined;
const appFunctions = () => (functions ??= loadFunctions(data.appDir, data.modules));

/**
 * min_replicas > 0: before piscina counts this replica ready (it waits for this module to finish
 * loading), import the app and load and run once each model its `models` export declares, so the
 * first call finds them warm. A failure is logged; the model then loads on its first call.
 */
async function warmUp(): Promise<void> {
  try {
    const declared = (await appFunctions()).get('models')?.value;
    if (declared === undefined) return;
    const { loadModel, warmUpModels } = await import('../models/index.ts');
    await warmUpModels(declared, (name) => loadModel(name), log);
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'warm-up did not finish; models load on their first call');
  }
}
if (data.models?.warmUp) {
  await warmUp();
  parentPort?.postMessage({ type: 'warmed', replica: threadId } satisfies ReplicaWarmedMessage);
}

export default async function handle(task: RunTask | InspectTask): Promise<RunResult | InspectResult> {
  if (task.type === 'inspect') return inspect();
  return run(task);
}

async function inspect(): Promise<InspectResult> {
  try {
    const loaded = await appFunctions();
    return { ok: true, exports: [...loaded.values()].map((e) => e.info) };
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  }
}

/**
 * Chunks may run ahead of the client by a window of credits, which the server refills as it sends.
 * Past a batch of chunks in flight, their text is bounded too (CHUNK_CREDIT_CHARS): the server
 * credits a batch at a time, so a batch may always be in flight, whatever its size.
 */
class CreditGate {
  private credits = CHUNK_CREDIT_WINDOW;
  private waiter: (() => void) | undefined;
  /** Sizes of the chunks sent and not yet credited back, oldest first from `oldest`, and their sum. */
  private readonly sizes: number[] = [];
  private oldest = 0;
  private chars = 0;

  add(n: number): void {
    for (let i = 0; i < n && this.oldest < this.sizes.length; i += 1) this.chars -= this.sizes[this.oldest++];
    if (this.oldest === this.sizes.length) {
      this.sizes.length = 0;
      this.oldest = 0;
    }
    this.credits += n;
    this.release();
  }

  private open(size: number): boolean {
    if (this.credits <= 0) return false;
    return this.sizes.length - this.oldest < CHUNK_CREDIT_BATCH || this.chars + size <= CHUNK_CREDIT_CHARS;
  }

  private spend(size: number): void {
    this.credits -= 1;
    this.sizes.push(size);
    this.chars += size;
  }

  release(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Takes a credit for a chunk of `size` at once if one is free (no promise: the fast path of a stream). */
  tryTake(size: number): boolean {
    if (!this.open(size)) return false;
    this.spend(size);
    return true;
  }

  async take(size: number, signal: AbortSignal): Promise<void> {
    while (!this.open(size) && !signal.aborted) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    this.spend(size);
  }
}

let gaugeSent = false;
/** The native-call gauge, the first time only: the server keeps it per replica. */
function gaugeNotYetSent(): Int32Array | undefined {
  if (gaugeSent) return undefined;
  gaugeSent = true;
  return nativeCallGauge();
}

async function run(task: RunTask): Promise<RunResult> {
  // This replica is about to be terminated: the run never begins here, and the server, seeing its
  // task end unstarted, hands it to another replica.
  if (replicaClosing()) return new Promise<RunResult>(() => undefined);
  const { port } = task;
  const controller = new AbortController();
  const gate = new CreditGate();
  port.on('message', (message: ServerMessage) => {
    if (message.type === 'abort') {
      controller.abort(abortError(message.reason));
      gate.release();
    } else if (message.type === 'credit') {
      gate.add(message.n);
    }
  });

  const post = (message: ReplicaMessage) => port.postMessage(message);
  post({ type: 'started', replica: threadId, nativeCalls: gaugeNotYetSent() });

  const started = performance.now();
  const logs = new RunLogSink(post);
  let result: RunResult;
  try {
    const value = await withRunLogs(logs, () => invoke(task, controller.signal, port, gate));
    const runTimeMs = performance.now() - started;
    result = encodeResult(value, runTimeMs);
  } catch (err) {
    const error = serializeError(err);
    if (controller.signal.aborted) error.aborted = true;
    result = { ok: false, error, runTimeMs: performance.now() - started };
  }
  // The result goes on the run's own port, after every chunk and log line, so the server sees them in order.
  logs.close();
  post({ type: 'end', result });
  port.close();
  return result;
}

async function invoke(task: RunTask, signal: AbortSignal, port: MessagePort, gate: CreditGate): Promise<unknown> {
  const loaded = (await appFunctions()).get(task.functionName);
  if (!loaded || typeof loaded.value !== 'function') {
    throw new Error(`Function "${task.functionName}" is not an export of app "${data.appName}"`);
  }
  const ctx: FunctionContext = {
    runId: task.runId,
    projectId: task.projectId,
    appName: data.appName,
    functionName: task.functionName,
    signal,
    log: log.child({ run_id: task.runId, function: task.functionName }),
    env: process.env,
  };
  const fn = loaded.value as (params: unknown, ctx: FunctionContext) => unknown;
  const value: unknown = await fn(task.params, ctx);
  if (!isGenerator(value)) return value;
  return task.stream ? streamChunks(value, task.stream, signal, port, gate) : gatherChunks(value, signal);
}

type AnyGenerator = AsyncGenerator<unknown, unknown, undefined> | Generator<unknown, unknown, undefined>;

function isGenerator(value: unknown): value is AnyGenerator {
  const tag = Object.prototype.toString.call(value);
  return tag === '[object AsyncGenerator]' || tag === '[object Generator]';
}

const ABORTED = Symbol('aborted');

/** Resolves when the signal aborts, so a pending `next()` can be abandoned at once. */
function whenAborted(signal: AbortSignal): Promise<typeof ABORTED> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });
}

/** Walks a generator until it ends or the run is aborted; on abort its `finally` runs. */
async function eachChunk(gen: AnyGenerator, signal: AbortSignal, onChunk: (chunk: unknown) => Promise<void> | void) {
  const aborted = whenAborted(signal);
  try {
    for (;;) {
      const step = await Promise.race([gen.next(), aborted]);
      if (step === ABORTED || step.done) break;
      const handled = onChunk(step.value);
      if (handled) await handled;
      if (signal.aborted) break;
    }
  } finally {
    // Runs the generator's own `finally` when we stopped early (abort, or an error sending a chunk).
    // Not awaited past the abort: a generator stuck in an await that ignores the signal must not
    // hold the run open.
    const closing = Promise.resolve(gen.return(undefined)).catch(() => undefined);
    await Promise.race([closing, aborted]);
  }
  if (signal.aborted) throw signal.reason;
}

async function streamChunks(
  gen: AnyGenerator,
  encoding: 'sse' | 'raw',
  signal: AbortSignal,
  port: MessagePort,
  gate: CreditGate,
): Promise<unknown> {
  // Chunks made in the same turn of the event loop go in one message: a fast generator costs one
  // message per credit window rather than one per chunk, and a slow one still sends each at once.
  let batch: unknown[] = [];
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (batch.length === 0) return;
    const message: ReplicaMessage = { type: 'chunks', data: batch };
    batch = [];
    port.postMessage(message);
  };
  let sent = 0;
  try {
    const send = (chunk: unknown) => {
      if (signal.aborted) return;
      batch.push(chunk);
      sent += 1;
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    };
    // A free credit sends the chunk in this turn; only a full window waits (the client is behind).
    await eachChunk(gen, signal, (value) => {
      const chunk = encoding === 'sse' ? toSseFrame(value) : value;
      const size = typeof chunk === 'string' ? chunk.length : 0;
      return gate.tryTake(size) ? send(chunk) : gate.take(size, signal).then(() => send(chunk));
    });
  } finally {
    // Whatever was made before an error still goes out, ahead of the run's end.
    flush();
  }
  return { chunks: sent };
}

/** A generator called without streaming: its chunks become one result. */
async function gatherChunks(gen: AnyGenerator, signal: AbortSignal): Promise<unknown> {
  const chunks: unknown[] = [];
  await eachChunk(gen, signal, (chunk) => {
    chunks.push(chunk);
  });
  return chunks.every((c) => typeof c === 'string') ? chunks.join('') : chunks;
}

/** JSON-encodes the result here, off the server thread, and reads `status_code`. */
function encodeResult(value: unknown, runTimeMs: number): RunResult {
  let json: string | undefined;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    const error: SerializedError = {
      name: 'TypeError',
      message: `The function's result cannot be encoded as JSON: ${cause}`,
      notSerialisable: true,
    };
    return { ok: false, error, runTimeMs };
  }
  const result: RunResult = { ok: true, json: json ?? 'null', runTimeMs };
  const statusCode = (value as { status_code?: unknown } | null)?.status_code;
  // Any number is passed on: the server checks it (200–599) for every kind of replica in one place.
  if (typeof value === 'object' && typeof statusCode === 'number') result.statusCode = statusCode;
  return result;
}

function abortError(reason: string): Error {
  const err = new Error(reason);
  err.name = 'AbortError';
  return err;
}
