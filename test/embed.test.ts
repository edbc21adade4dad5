// The demo app's `embed` (functions/embed.ts): the WordPiece tokenizer in-process, then the function
// over a real server, re-exported by test/fixtures/embed-app (one replica, with its model counters).
// Its model is the generated stand-in in models/embed.onnx, built on first use when missing.

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanPoolNormalized } from '../src/models/pooling.ts';
import { WordPieceTokenizer } from '../src/models/wordpiece.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

interface Embeddings {
  object: string;
  data: Array<{ object: string; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

const SENTENCES = [
  'The quick brown fox jumps over the lazy dog.',
  'Hello, world!',
  'Serverless inference endpoints scale replicas down to zero when idle.',
  'Short',
  'Déjà vu: an unaffable café in 東京.',
  'Batching gathers concurrent callers into one model run, and pads them to the longest.',
];

describe('WordPiece tokenizer (bert-base-uncased vocabulary)', () => {
  const tokenizer = WordPieceTokenizer.bertBaseUncased();

  it('gives the ids bert-base-uncased gives, with [CLS] and [SEP]', () => {
    expect(tokenizer.vocabularySize).toBe(30522);
    expect(tokenizer.encode('Hello, world!')).toEqual({
      tokens: ['[CLS]', 'hello', ',', 'world', '!', '[SEP]'],
      ids: [101, 7592, 1010, 2088, 999, 102],
    });
    expect(tokenizer.encode('The quick brown fox jumps over the lazy dog.').ids).toEqual([
      101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102,
    ]);
    expect(tokenizer.encode('embeddings').ids).toEqual([101, 7861, 8270, 4667, 2015, 102]);
  });

  it('lowercases, strips accents, splits CJK characters and cuts unknown words into ## pieces', () => {
    expect(tokenizer.basicTokens('Déjà VU, café 東京')).toEqual(['deja', 'vu', ',', 'cafe', '東', '京']);
    // What Hugging Face's BertTokenizer gives for bert-base-uncased (greedy longest match first).
    expect(tokenizer.wordPieces('unaffable')).toEqual(['una', '##ffa', '##ble']);
    expect(tokenizer.wordPieces('runs')).toEqual(['runs']);
    expect(tokenizer.wordPieces('x'.repeat(101))).toEqual(['[UNK]']);
    expect(tokenizer.encode('ok').ids.at(-1)).toBe(tokenizer.sepId);
  });

  it('cuts long text to maxLength and pads a batch with [PAD] and a zero mask', () => {
    const long = tokenizer.encode('word '.repeat(600), 256);
    expect(long.ids).toHaveLength(256);
    expect(long.tokens.at(-1)).toBe('[SEP]');
    const batch = tokenizer.pad([tokenizer.encode('a b c'), tokenizer.encode('a')]);
    expect(batch).toMatchObject({ batchSize: 2, sequenceLength: 5 });
    expect([...batch.attentionMask]).toEqual([1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 0n, 0n]);
    expect(batch.inputIds[9]).toBe(BigInt(tokenizer.padId));
  });

  it('mean-pools only the masked-in tokens and scales to unit length', () => {
    // Two tokens, the second padding: the mean is the first token alone.
    const [v] = meanPoolNormalized(Float32Array.from([3, 4, 100, 100]), [1, 2, 2], BigInt64Array.from([1n, 0n]));
    expect(v[0]).toBeCloseTo(0.6, 6);
    expect(v[1]).toBeCloseTo(0.8, 6);
  });
});

describe('embed over a real server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([fixture('embed-app')]);
  });
  afterAll(async () => {
    await server?.close();
  });

  const embed = async (body: unknown): Promise<Embeddings> => {
    const res = await server.post('/v4/p-test/embed-test/embed', body);
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: Embeddings }).result;
  };
  const vectors = (e: Embeddings) => e.data.map((d) => d.embedding as number[]);
  const ortRuns = async (): Promise<number> => {
    const res = await server.post('/v4/p-test/embed-test/stats', {});
    const { result } = (await res.json()) as { result: { runs: Record<string, number> } };
    return Object.values(result.runs).reduce((a, b) => a + b, 0);
  };

  it('answers the OpenAI embeddings shape with unit vectors, one per input', async () => {
    const result = await embed({ input: ['Hello, world!', 'Short'], model: 'text-embedding-3-small' });
    expect(result.object).toBe('list');
    expect(result.model).toBe('text-embedding-3-small');
    expect(result.data.map((d) => [d.object, d.index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
    ]);
    for (const v of vectors(result)) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    // [CLS] hello , world ! [SEP] and [CLS] short [SEP]
    expect(result.usage).toEqual({ prompt_tokens: 9, total_tokens: 9 });
    expect(vectors(result)[0]).not.toEqual(vectors(result)[1]);
  });

  it('gives the same vectors batched and unbatched, to 1e-5', async () => {
    const alone: number[][] = [];
    for (const sentence of SENTENCES) alone.push(vectors(await embed({ input: sentence }))[0]);
    const together = vectors(await embed({ input: SENTENCES }));
    const concurrent = (await Promise.all(SENTENCES.map((s) => embed({ input: s })))).map((e) => vectors(e)[0]);
    for (const batched of [together, concurrent]) {
      batched.forEach((v, i) => {
        expect(v).toHaveLength(alone[i].length);
        const worst = Math.max(...v.map((x, k) => Math.abs(x - alone[i][k])));
        expect(worst).toBeLessThan(1e-5);
      });
    }
  });

  it('runs 32 concurrent single-sentence callers as fewer model runs than callers', async () => {
    const before = await ortRuns();
    const texts = Array.from({ length: 32 }, (_, i) => `caller number ${i} wants an embedding`);
    const results = await Promise.all(texts.map((input) => embed({ input })));
    expect(results).toHaveLength(32);
    const runs = (await ortRuns()) - before;
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThan(32);
  });

  it('fails only the caller with an empty input, not those batched with it', async () => {
    const responses = await Promise.all(
      ['fine text', '   ', 'more fine text'].map((input) => server.post('/v4/p-test/embed-test/embed', { input })),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 500, 200]);
    const failed = (await responses[1].json()) as { error: { message: string } };
    expect(failed.error.message).toMatch(/input is empty/);
  });

  it('answers base64 little-endian float32 when asked, as the OpenAI SDK asks by default', async () => {
    const floats = vectors(await embed({ input: 'Hello, world!' }))[0];
    const encoded = (await embed({ input: 'Hello, world!', encoding_format: 'base64' })).data[0].embedding as string;
    const bytes = Buffer.from(encoded, 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toHaveLength(floats.length);
    for (const [i, x] of decoded.entries()) expect(x).toBeCloseTo(floats[i], 6);
  });

  it('refuses a body without input before the function runs (422)', async () => {
    const res = await server.post('/v4/p-test/embed-test/embed', { text: 'no input key' });
    expect(res.status).toBe(422);
  });
});

describe('the demo app', () => {
  it('serves embed among its functions', async () => {
    const server = await startTestServer([fileURLToPath(new URL('..', import.meta.url))]);
    try {
      const res = await server.post('/v4/p-test/demo/embed', { input: 'hello from the demo' });
      expect(res.status).toBe(200);
      const { result } = (await res.json()) as { result: Embeddings };
      expect(result.data).toHaveLength(1);
      expect(Math.hypot(...(result.data[0].embedding as number[]))).toBeCloseTo(1, 5);
    } finally {
      await server.close();
    }
  });
});
