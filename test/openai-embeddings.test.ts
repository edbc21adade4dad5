// The embeddings routes, driven by the official OpenAI SDK: its default (base64 of little-endian
// float32, which it decodes itself) and `float` must give the same vectors at full length.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('openai-app')]);
});

afterAll(async () => {
  await server?.close();
});

const client = (fn: string) => new OpenAI({ baseURL: `${server.url}/v4/p-test/oai/${fn}`, apiKey: 'not-checked', maxRetries: 0 });

const DIMENSIONS = 64;
const INPUT = ['the quick brown fox', 'jumps over the lazy dog'];

/** What the fixture computes, rounded through float32 as the function's Float32Array holds it. */
function expected(text: string): number[] {
  const vector = new Float32Array(DIMENSIONS);
  for (let i = 0; i < DIMENSIONS; i++) vector[i] = Math.sin((text.charCodeAt(i % Math.max(1, text.length)) || 1) * (i + 1) * 0.1) / 3;
  return Array.from(vector);
}

describe('embeddings', () => {
  it.each(['embed_f32', 'embed_numbers', 'embed_response'])(
    '%s: the SDK default (base64) and float give the same full-length vectors',
    async (fn) => {
      const byDefault = await client(fn).embeddings.create({ model: 'emb-1', input: INPUT });
      const asFloat = await client(fn).embeddings.create({ model: 'emb-1', input: INPUT, encoding_format: 'float' });
      for (const response of [byDefault, asFloat]) {
        expect(response.object).toBe('list');
        expect(response.data.map((d) => d.index)).toEqual([0, 1]);
        expect(response.data.every((d) => d.object === 'embedding' && d.embedding.length === DIMENSIONS)).toBe(true);
      }
      expect(byDefault.data.map((d) => d.embedding)).toEqual(INPUT.map(expected));
      // float carries the function's numbers as they are; through float32 they are exactly the base64 ones.
      expect(asFloat.data.map((d) => Array.from(Float32Array.from(d.embedding)))).toEqual(INPUT.map(expected));
      expect(byDefault.model).toBe(fn === 'embed_response' ? 'fixture-embedder' : 'emb-1');
      // "the quick brown fox" (4) + "jumps over the lazy dog" (5)
      expect(byDefault.usage).toEqual({ prompt_tokens: 9, total_tokens: 9 });
    },
  );

  it('base64 on the wire is little-endian float32', async () => {
    const res = await server.post('/v4/p-test/oai/embed_f32/embeddings', { input: 'abc', encoding_format: 'base64' });
    const body = (await res.json()) as { data: Array<{ embedding: string }> };
    const bytes = Buffer.from(body.data[0].embedding, 'base64');
    expect(bytes.length).toBe(DIMENSIONS * 4);
    const decoded = Array.from({ length: DIMENSIONS }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toEqual(expected('abc'));
  });

  it('one flat vector answers one input', async () => {
    const response = await client('embed_one').embeddings.create({ model: 'm', input: 'abc' });
    expect(response.data.map((d) => d.embedding)).toEqual([expected('abc')]);
  });

  it('answers on /embedding too, the name in Cerebrium’s docs', async () => {
    const res = await server.post('/v4/p-test/oai/embed_numbers/embedding', { input: 'abc' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ embedding: number[] }>; model: string };
    expect(body.data[0].embedding).toHaveLength(DIMENSIONS);
    expect(body.model).toBe('embed_numbers');
  });

  it('an unknown encoding_format is a 400 naming the param', async () => {
    const err = await client('embed_f32')
      .embeddings.create({ model: 'm', input: 'x', encoding_format: 'int8' as 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('encoding_format');
  });

  it('a function’s exception is the SDK’s APIError with status and message', async () => {
    const err = await client('embed_fails')
      .embeddings.create({ model: 'm', input: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    const apiError = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(500);
    expect(apiError.message).toBe('500 no embeddings today');
    expect(apiError.code).toBe('function_exception');
  });

  it('a result that is not vectors is a 500 that says what was expected', async () => {
    const err = await client('plain_text')
      .embeddings.create({ model: 'm', input: 'x', encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_embeddings_result');
  });
});
