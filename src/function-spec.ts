// How a function declares its parameters, and what it is given when it runs. Only types come from
// TypeBox and pino here: replicas import this module for every app (to read each export's spec),
// and loading TypeBox itself is left to the apps that build schemas with it.
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';

/** The second argument of every function: who is calling, and how to stop early. */
export interface FunctionContext {
  /** The run's id, also sent to the caller as `run_id` and `x-request-id`. */
  readonly runId: string;
  /** The projectId of the path this run was called on. */
  readonly projectId: string;
  readonly appName: string;
  readonly functionName: string;
  /** Aborts when the caller disconnects, the run is cancelled, or it times out. */
  readonly signal: AbortSignal;
  /** A pino logger whose lines carry this run's id. */
  readonly log: Logger;
  /** The replica's environment: APP_NAME, PROJECT_ID and the app's own variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Marks a function's declared options; read by the server when it inspects an app. */
export const FUNCTION_SPEC: unique symbol = Symbol.for('cerebrium-local.function-spec') as never;

export interface FunctionSpec<P extends TSchema = TSchema> {
  /** JSON Schema (TypeBox) of the body. Unknown keys are rejected unless the schema allows them. */
  params?: P;
  /** A one-line description, shown in /openapi.json. */
  description?: string;
}

type UserFunction<P> = (params: P, ctx: FunctionContext) => unknown;

/**
 * Declares a function's parameters. A call whose body does not match gets 422 naming each bad
 * key, and the function never runs. The function itself is returned unchanged, so it can still
 * be a generator.
 */
export function defineFunction<S extends TSchema, F extends UserFunction<Static<S>>>(spec: FunctionSpec<S>, fn: F): F {
  Object.defineProperty(fn, FUNCTION_SPEC, { value: spec, enumerable: false });
  return fn;
}

export function functionSpecOf(fn: unknown): FunctionSpec | undefined {
  if (typeof fn !== 'function') return undefined;
  return (fn as unknown as { [FUNCTION_SPEC]?: FunctionSpec })[FUNCTION_SPEC];
}
