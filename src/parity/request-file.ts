// The requests a parity kit replays: one JSON object per line of a .jsonl file.
//   {"name": "echo", "function": "echo", "body": {"a": 1}}
//   {"name": "stream", "function": "count", "body": {"n": 3}, "stream": true}
//   {"name": "later", "function": "echo", "async": true, "headers": {"x-webhook-secret": "s"}}
// `function` is the path after /v4/<project>/<app>/ (e.g. "run", or "chat/chat/completions").
import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const ParityRequestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    method: Type.Optional(Type.String({ pattern: '^[A-Z]+$' })),
    function: Type.String({ minLength: 1 }),
    body: Type.Optional(Type.Unknown()),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Sent with Accept: text/event-stream; the answer is read as events. */
    stream: Type.Optional(Type.Boolean()),
    /** Sent with ?async=true; the run is then read back until it ends. */
    async: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export type ParityRequest = Static<typeof ParityRequestSchema> & { name: string };

export class ParityInputError extends Error {
  override name = 'ParityInputError';
}

/** Reads and checks every line; names default to the line's number, and must be unique. */
export async function readRequestFile(file: string): Promise<ParityRequest[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const requests: ParityRequest[] = [];
  const names = new Set<string>();
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('//')) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new ParityInputError(`${file}:${i + 1}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!Value.Check(ParityRequestSchema, parsed)) {
      const first = Value.Errors(ParityRequestSchema, parsed).First();
      throw new ParityInputError(`${file}:${i + 1}: ${first?.path || '/'} ${first?.message ?? 'is not a request'}`);
    }
    const name = parsed.name ?? `line-${i + 1}`;
    if (names.has(name)) throw new ParityInputError(`${file}:${i + 1}: the name "${name}" is used twice`);
    names.add(name);
    requests.push({ ...parsed, name });
  });
  if (requests.length === 0) throw new ParityInputError(`${file} holds no request`);
  return requests;
}
