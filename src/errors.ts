import { ERROR_CODES, type ErrorCode, type ErrorType } from './error-codes.ts';

// One family of errors for everything a caller can be told. Each carries its HTTP status,
// an error `type` (the broad class) and a `code` (the exact cause). `errorBody` is their envelope,
// shared by replies, webhooks and the run store; src/http/error-handler.ts is the one place that
// sends them as HTTP answers.

export type { ErrorCode, ErrorType } from './error-codes.ts';

export interface ErrorDetails {
  [key: string]: unknown;
}

export class CerebriumLocalError extends Error {
  readonly statusCode: number;
  readonly type: ErrorType;
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;
  /** The run this error ended, when one existed: its id goes in the body. */
  runId: string | undefined;
  /** Response headers that belong with this error (Retry-After on 429). */
  headers: Record<string, string> | undefined;

  /** The status and type come with the code, from the catalogue (src/error-codes.ts). */
  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = 'CerebriumLocalError';
    this.statusCode = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
    this.code = code;
    this.details = details;
  }
}

/** The envelope every error leaves in: `{"run_id"?, "error": {message, type, code, ...details}}`. */
export interface ErrorBody {
  run_id?: string;
  error: { message: string; type: string; code: string; [detail: string]: unknown };
}

export function errorBody(err: CerebriumLocalError, runId = err.runId): ErrorBody {
  const body: ErrorBody = { error: { message: err.message, type: err.type, code: err.code, ...err.details } };
  return runId ? { run_id: runId, ...body } : body;
}

/** One key of the body that a function's parameter schema rejected. */
export interface ParamProblem {
  key: string;
  problem: string;
}

export function invalidParams(problems: ParamProblem[]): CerebriumLocalError {
  const summary = problems.map((p) => `${p.key}: ${p.problem}`).join('; ');
  return new CerebriumLocalError('invalid_params', `Invalid parameters: ${summary}`, {
    params: problems,
  });
}

/** What a worker sends back when user code threw: plain data, since it crosses a thread. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Set when the run ended because ctx.signal was aborted. */
  aborted?: boolean;
  /** Set when the function returned something JSON cannot encode. */
  notSerialisable?: boolean;
  /** Set when the function's result had a numeric `status_code` no HTTP answer can carry. */
  invalidStatusCode?: boolean;
  /** Set when the replica itself died (process.exit, out of memory, an uncaught error). */
  crashed?: boolean;
  /** Set when the run outlived response_grace_period. */
  timedOut?: boolean;
  /** Set when a custom runtime's replica did not answer a forwarded request. */
  upstream?: boolean;
  /** Set when the app's queue filled between the call's admission check and its place in the queue. */
  queueFull?: boolean;
  /** Set when fault injection (src/faults) made the run answer this status instead of running. */
  injectedStatus?: number;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, stack: err.stack };
  }
  let message: string;
  try {
    message = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
  } catch {
    message = String(err);
  }
  return { name: 'NonErrorThrown', message: `A non-Error value was thrown: ${message}` };
}

/** 429 with Retry-After: the app's queue is at its --max-queue. */
export function queueFull(message: string): CerebriumLocalError {
  const err = new CerebriumLocalError('queue_full', message);
  err.headers = { 'retry-after': '1' };
  return err;
}

export function functionFailed(err: SerializedError, includeStack: boolean): CerebriumLocalError {
  if (err.notSerialisable) {
    return new CerebriumLocalError('result_not_serialisable', err.message);
  }
  if (err.invalidStatusCode) return new CerebriumLocalError('invalid_status_code', err.message);
  if (err.timedOut) {
    return new CerebriumLocalError('response_grace_period_exceeded', err.message);
  }
  if (err.queueFull) return queueFull(err.message);
  if (err.upstream) return new CerebriumLocalError('upstream_unreachable', err.message);
  if (err.crashed) {
    return new CerebriumLocalError('replica_crashed', err.message);
  }
  const details: ErrorDetails = { name: err.name };
  if (includeStack && err.stack) details.stack = err.stack;
  return new CerebriumLocalError('function_exception', err.message, details);
}
