// A ReplicaBackend that runs plain JavaScript functions on the test's own thread, for tests of the
// layers above the backend (AppRuntime, Execution, RunService) without worker threads or an app on
// disk. It follows the replica protocol the way src/worker/replica.ts does: `started` first, a
// streaming generator's chunks within a window of credit, then one `end` with a RunResult of the
// same shapes. What it cannot do is stop a function by force: replaceReplica ends the run at once
// and drops whatever the function does afterwards.
import { performance } from 'node:perf_hooks';
import { serializeError } from '../../src/errors.ts';
import { CHUNK_CREDIT_WINDOW, type RunRequest, type RunResult } from '../../src/replica-protocol.ts';
import type { BackendHealth, ReplicaBackend, RunHandle, RunListener } from '../../src/runtime/replica-backend.ts';
import { toSseFrame } from '../../src/worker/sse-frame.ts';

/** A function as the tests write it: params and an abort signal; an async generator streams. */
export type InProcessFunction = (params: Record<string, unknown>, signal: AbortSignal) => unknown;

type AnyGenerator = AsyncGenerator<unknown, unknown, undefined> | Generator<unknown, unknown, undefined>;

export class InProcessBackend implements ReplicaBackend {
  /** Every request handed to a replica, in order: a run that never reached one is not here. */
  readonly requests: RunRequest[] = [];
  /** What each run ended with, as the listener was told, by run id. */
  readonly results = new Map<string, RunResult>();

  constructor(private readonly functions: Record<string, InProcessFunction>) {}

  // Nothing to spawn or to stop: the functions run on the caller's thread.
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  health(): BackendHealth {
    return { replicas: 1, starts: 1 };
  }

  run(request: RunRequest, listener: RunListener): RunHandle {
    this.requests.push(request);
    const controller = new AbortController();
    const credit = new Credit(controller.signal);
    let ended = false;
    const end = (result: RunResult) => {
      if (ended) return;
      ended = true;
      this.results.set(request.runId, result);
      listener.end(result);
    };
    const chunks = (data: unknown[]) => {
      if (!ended) listener.chunks(data);
    };

    // As a replica would, report the start on a later turn, then run the function.
    setImmediate(() => {
      if (ended) return;
      listener.started();
      void this.invoke(request, controller.signal, credit, chunks).then(end);
    });

    return {
      abort: (reason) => {
        const err = new Error(reason);
        err.name = 'AbortError';
        controller.abort(err);
      },
      credit: (n) => credit.add(n),
      replaceReplica: (message) => end({ ok: false, error: { name: 'ReplicaReplaced', message, crashed: true }, runTimeMs: 0 }),
    };
  }

  /** Runs one function to its RunResult; never rejects. */
  private async invoke(request: RunRequest, signal: AbortSignal, credit: Credit, chunks: (data: unknown[]) => void): Promise<RunResult> {
    const started = performance.now();
    try {
      const fn = Object.hasOwn(this.functions, request.functionName) ? this.functions[request.functionName] : undefined;
      if (!fn) throw new Error(`Function "${request.functionName}" is not an export of this backend`);
      let value = await fn(request.params, signal);
      if (isGenerator(value)) value = await drive(value, request, signal, credit, chunks);
      return encode(value, performance.now() - started);
    } catch (err) {
      const error = serializeError(err);
      if (signal.aborted) error.aborted = true;
      return { ok: false, error, runTimeMs: performance.now() - started };
    }
  }
}

/** A generator's chunks: streamed within the credit window (result: their count), or gathered into the result. */
async function drive(
  gen: AnyGenerator,
  request: RunRequest,
  signal: AbortSignal,
  credit: Credit,
  chunks: (data: unknown[]) => void,
): Promise<unknown> {
  const gathered: unknown[] = [];
  let sent = 0;
  try {
    for (let step = await gen.next(); !step.done; step = await gen.next()) {
      if (signal.aborted) break;
      if (!request.stream) {
        gathered.push(step.value);
        continue;
      }
      await credit.take();
      if (signal.aborted) break;
      chunks([request.stream === 'sse' ? toSseFrame(step.value) : step.value]);
      sent += 1;
    }
  } finally {
    await gen.return(undefined);
  }
  if (signal.aborted) throw signal.reason;
  if (request.stream) return { chunks: sent };
  return gathered.every((c) => typeof c === 'string') ? gathered.join('') : gathered;
}

/** At most CHUNK_CREDIT_WINDOW chunks ahead of what the server has taken; an abort stops the wait. */
class Credit {
  private left = CHUNK_CREDIT_WINDOW;
  private wake: (() => void) | undefined;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.release(), { once: true });
  }

  add(n: number): void {
    this.left += n;
    this.release();
  }

  async take(): Promise<void> {
    while (this.left <= 0 && !this.signal.aborted) await new Promise<void>((resolve) => (this.wake = resolve));
    this.left -= 1;
  }

  private release(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function isGenerator(value: unknown): value is AnyGenerator {
  const tag = Object.prototype.toString.call(value);
  return tag === '[object AsyncGenerator]' || tag === '[object Generator]';
}

/** The result as the replica encodes it: JSON text, and `status_code` when the function set one. */
function encode(value: unknown, runTimeMs: number): RunResult {
  let json: string;
  try {
    json = JSON.stringify(value === undefined ? null : value) ?? 'null';
  } catch (err) {
    const message = `The function's result cannot be encoded as JSON: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, error: { name: 'TypeError', message, notSerialisable: true }, runTimeMs };
  }
  const statusCode = (value as { status_code?: unknown } | null | undefined)?.status_code;
  if (typeof statusCode === 'number' && Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599) {
    return { ok: true, json, statusCode, runTimeMs };
  }
  return { ok: true, json, runTimeMs };
}
