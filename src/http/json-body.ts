// Bodies are JSON whatever their content-type says (curl's -d sends form encoding), an empty body
// is `{}`, a body nested deeper than --max-json-depth is refused, and keys that could reach an
// object's prototype are refused before any code sees them. The text as received is kept beside
// the parsed body, so the run store keeps it as sent instead of serialising the params again.
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { DEFAULTS } from '../defaults.ts';
import { CerebriumLocalError } from '../errors.ts';
import { nestsDeeperThan } from './json-depth.ts';

export interface JsonBodyOptions {
  /** Deepest nesting of arrays and objects accepted (400 json_too_deep past it). */
  maxDepth?: number;
}

/** Each parsed body (an object) → its text as received. */
const receivedText = new WeakMap<object, string>();

/** The JSON text a parsed body arrived as; undefined for a body this parser did not make. */
export function bodyText(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? receivedText.get(body) : undefined;
}

export function registerJsonBodyParser(server: FastifyInstance, options: JsonBodyOptions = {}): void {
  const maxDepth = options.maxDepth ?? DEFAULTS.maxJsonDepth;
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, keepText({}, '{}'));
    if (nestsDeeperThan(text, maxDepth)) {
      return done(
        new CerebriumLocalError('json_too_deep', `The body nests arrays and objects deeper than ${maxDepth} levels (--max-json-depth)`),
      );
    }
    try {
      const parsed: unknown = secureJson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
      done(null, typeof parsed === 'object' && parsed !== null ? keepText(parsed, text) : parsed);
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

function keepText(parsed: object, text: string): object {
  receivedText.set(parsed, text);
  return parsed;
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
