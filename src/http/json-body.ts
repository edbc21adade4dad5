// Bodies are JSON whatever their content-type says (curl's -d sends form encoding), an empty body
// is `{}`, and keys that could reach an object's prototype are refused before any code sees them.
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { CerebriumLocalError } from '../errors.ts';

export function registerJsonBodyParser(server: FastifyInstance): void {
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, {});
    try {
      done(null, secureJson.parse(text, null, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (/forbidden prototype property/.test(message)) {
        return done(
          new CerebriumLocalError(
            'forbidden_key',
            'The body contains a "__proto__" or "constructor.prototype" key, which is refused so it cannot reach an object prototype',
          ),
        );
      }
      done(new CerebriumLocalError('invalid_json', `The body is not valid JSON: ${message}`));
    }
  });
}

/** The function's params: the body, which must be a JSON object (absent means `{}`). */
export function bodyAsParams(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    throw new CerebriumLocalError('body_not_object', `The body must be a JSON object whose keys are the function's parameters; got ${got}`);
  }
  return body as Record<string, unknown>;
}
