// The one place errors become HTTP: every failure leaves as {"error": {message, type, code, ...}},
// with the run's id first when a run existed.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { CerebriumLocalError, errorBody } from '../errors.ts';

/** Errors Fastify itself raises, in the project's terms. */
export function fromFastify(err: FastifyError): CerebriumLocalError {
  if (err instanceof CerebriumLocalError) return err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new CerebriumLocalError('body_too_large', `The body is larger than the limit: ${err.message}`);
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new CerebriumLocalError('unsupported_media_type', err.message);
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return new CerebriumLocalError('bad_request', err.message);
  return new CerebriumLocalError('internal_error', 'Internal server error');
}

export function sendError(reply: FastifyReply, err: CerebriumLocalError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(errorBody(err));
}

/**
 * Makes `scope` answer every error with `send` (the /v4 envelope here, OpenAI's in the OpenAI plugin),
 * after mapping Fastify's own errors and logging the unexpected ones.
 */
export function answerErrorsWith(scope: FastifyInstance, send: (reply: FastifyReply, err: CerebriumLocalError) => FastifyReply): void {
  scope.setErrorHandler((err: FastifyError, request, reply) => {
    const known = fromFastify(err);
    if (known.statusCode >= 500 && !(err instanceof CerebriumLocalError)) {
      request.log.error({ err }, 'unexpected error');
    }
    return send(reply, known);
  });
}

export function registerErrorHandling(server: FastifyInstance): void {
  answerErrorsWith(server, sendError);
  server.setNotFoundHandler((request, reply) =>
    sendError(reply, new CerebriumLocalError('route_not_found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}
