// The OpenAI-compatible routes' variant of errorBody: {"error": {message, type, param, code}}, the
// envelope the OpenAI SDKs (and Ollama, vLLM, LocalAI) read. Errors are still raised as
// CerebriumLocalError everywhere; only their last step to HTTP differs on these routes.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CerebriumLocalError, ParamProblem } from '../errors.ts';
import { answerErrorsWith } from './error-handler.ts';

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * A body the function's schema rejects is a 400 here, not the 422 of /v4 invoke: OpenAI answers
 * bad requests with 400, and clients (the SDK's BadRequestError) expect it.
 */
export function openAiStatus(err: CerebriumLocalError): number {
  return err.statusCode === 422 ? 400 : err.statusCode;
}

/** OpenAI's `type`, decided by status: its clients branch on the status, the exact cause stays in `code`. */
function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The request field an error is about: the first key a schema rejected, or one the route named. */
function paramOf(err: CerebriumLocalError): string | null {
  const { details } = err;
  if (typeof details?.param === 'string') return details.param;
  const problems = details?.params as ParamProblem[] | undefined;
  return Array.isArray(problems) && typeof problems[0]?.key === 'string' ? problems[0].key : null;
}

export function openAiErrorBody(err: CerebriumLocalError): OpenAiErrorBody {
  return { error: { message: err.message, type: openAiType(openAiStatus(err)), param: paramOf(err), code: err.code } };
}

/** One SSE frame carrying an error, the way OpenAI-compatible servers end a stream that failed. */
export function openAiErrorFrame(err: CerebriumLocalError): string {
  return `data: ${JSON.stringify(openAiErrorBody(err))}\n\n`;
}

export function sendOpenAiError(reply: FastifyReply, err: CerebriumLocalError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  return reply.code(openAiStatus(err)).type('application/json; charset=utf-8').send(openAiErrorBody(err));
}

/** For the encapsulated plugin that holds the OpenAI routes; every other route keeps the root handler. */
export function registerOpenAiErrorHandling(scope: FastifyInstance): void {
  answerErrorsWith(scope, sendOpenAiError);
}
