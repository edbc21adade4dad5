// The pieces of the demo `chat` function, in-process: GPT-2's BPE tokenizer, the KV-cache decoding
// loop against the generated GPT-2 stand-in (checked against re-running the whole sequence), the
// sampler, stop strings, max_tokens, the context limit and aborting between tokens.

import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { BpeTokenizer } from '../src/models/bpe-tokenizer.ts';
import { buildGpt2Decoder, DEFAULT_GPT2_DECODER } from '../src/models/stand-ins/gpt2-decoder.ts';
import { buildSentenceEmbedder, DEFAULT_EMBEDDER } from '../src/models/stand-ins/sentence-embedder.ts';
import { chatPrompt, createSampler, type DecoderModel, decoderLayout, decodeTokens, generateText } from '../src/models/text-generation.ts';

const tokenizer = BpeTokenizer.gpt2();

/** The stand-in as a DecoderModel, recording the shape of every input_ids and past it was fed. */
interface RecordingModel extends DecoderModel {
  fed: Array<{ ids: number; past: number }>;
}

let session: InferenceSession;
const recording = (): RecordingModel => {
  const fed: RecordingModel['fed'] = [];
  return {
    path: 'gpt2 stand-in',
    session,
    fed,
    run(feeds: Record<string, Tensor>) {
      fed.push({ ids: feeds.input_ids.dims[1], past: feeds['past_key_values.0.key'].dims[2] });
      return session.run(feeds);
    },
  };
};

beforeAll(async () => {
  session = await InferenceSession.create(buildGpt2Decoder(DEFAULT_GPT2_DECODER), { intraOpNumThreads: 1 });
});

const PROMPT = chatPrompt([{ role: 'user', content: 'Tell me about the fox and the dog.' }]);
const greedy = createSampler({ temperature: 0, topP: 1 });

async function collect(ids: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const id of ids) out.push(id);
  return out;
}

describe('GPT-2 BPE tokenizer (r50k_base from js-tiktoken)', () => {
  it('gives the ids GPT-2 gives', () => {
    expect(tokenizer.vocabularySize).toBe(50257);
    expect(tokenizer.eosId).toBe(50256);
    expect(tokenizer.encode('Hello world')).toEqual([15496, 995]);
    expect(tokenizer.encode(' the fox')).toEqual([262, 21831]);
    expect(tokenizer.decode([15496, 995])).toBe('Hello world');
  });

  it('encodes "<|endoftext|>" in user text as plain text, never as the special id', () => {
    const ids = tokenizer.encode('a <|endoftext|> b');
    expect(ids).not.toContain(50256);
    expect(tokenizer.decode(ids)).toBe('a <|endoftext|> b');
  });

  it('decodes a character split across tokens once its last byte arrives, joining to the whole text', () => {
    const text = 'fox 🦊 and 東京';
    const ids = tokenizer.encode(text);
    const fox = tokenizer.encode('🦊');
    expect(fox.length).toBeGreaterThan(1); // four bytes, more than one token
    const decoder = tokenizer.streamDecoder();
    const pieces = ids.map((id) => decoder.push(id));
    expect(pieces.join('') + decoder.flush()).toBe(text);
    expect(pieces.some((p) => p === '')).toBe(true);
    expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });
});

describe('chatPrompt', () => {
  it('writes one "Role: text" line per message and ends with "Assistant:"', () => {
    expect(
      chatPrompt([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Bye' },
      ]),
    ).toBe('System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:');
  });
});

describe('the GPT-2 stand-in and the KV-cache loop', () => {
  it('declares the optimum GPT-2 interface: 2 layers, 2 heads, head_dim 16, position_ids, no merged branch', () => {
    expect(decoderLayout({ path: 'x', session })).toEqual({
      layers: 2,
      heads: 2,
      headDim: 16,
      present: [
        { key: 'present.0.key', value: 'present.0.value' },
        { key: 'present.1.key', value: 'present.1.value' },
      ],
      positionIds: true,
      cacheBranch: false,
    });
    expect(session.outputNames[0]).toBe('logits');
  });

  it('gives the same greedy tokens with the cache as re-running the whole sequence without it', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const cached = recording();
    const uncached = recording();
    const withCache = await collect(decodeTokens(cached, prompt, { maxNewTokens: 12, nextToken: greedy }));
    const without = await collect(decodeTokens(uncached, prompt, { maxNewTokens: 12, nextToken: greedy, useCache: false }));
    expect(withCache).toHaveLength(12);
    expect(withCache).toEqual(without);
    expect(new Set(withCache).size).toBeGreaterThan(3); // not one token over and over
    // The cached loop fed the prompt once, then one token at a time after a growing past.
    expect(cached.fed).toEqual(
      withCache.map((_, i) => (i === 0 ? { ids: prompt.length, past: 0 } : { ids: 1, past: prompt.length + i - 1 })),
    );
    expect(uncached.fed.every((f, i) => f.ids === prompt.length + i && f.past === 0)).toBe(true);
  });

  it('really attends to the past: the same token after the cache and after an empty past gives other logits', async () => {
    const model = recording();
    const ids = tokenizer.encode('The quick brown fox');
    const layout = decoderLayout(model);
    const empty = new Tensor('float32', new Float32Array(0), [1, layout.heads, 0, layout.headDim]);
    const run = (input: number[], past: Tensor[] | undefined, pastLength: number) => {
      const total = pastLength + input.length;
      const feeds: Record<string, Tensor> = {
        input_ids: new Tensor('int64', BigInt64Array.from(input, BigInt), [1, input.length]),
        attention_mask: new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new Tensor(
          'int64',
          BigInt64Array.from(input, (_, i) => BigInt(pastLength + i)),
          [1, input.length],
        ),
      };
      for (let l = 0; l < layout.layers; l++) {
        feeds[`past_key_values.${l}.key`] = past?.[2 * l] ?? empty;
        feeds[`past_key_values.${l}.value`] = past?.[2 * l + 1] ?? empty;
      }
      return model.run(feeds);
    };
    const first = await run(ids.slice(0, -1), undefined, 0);
    const past = layout.present.flatMap(({ key, value }) => [first[key] as Tensor, first[value] as Tensor]);
    expect(past[0].dims).toEqual([1, 2, ids.length - 1, 16]);
    const withPast = await run(ids.slice(-1), past, ids.length - 1);
    expect((withPast['present.0.key'] as Tensor).dims).toEqual([1, 2, ids.length, 16]);
    const whole = await run(ids, undefined, 0);
    const vocab = 50257;
    const lastWhole = (whole.logits.data as Float32Array).subarray((ids.length - 1) * vocab);
    const lastCached = withPast.logits.data as Float32Array;
    const worst = Math.max(...Array.from(lastCached, (x, i) => Math.abs(x - lastWhole[i])));
    expect(worst).toBeLessThan(1e-3);
    // Same token, same position, but no past: the answer changes, so the past is really used.
    const noPast = await run(ids.slice(-1), undefined, 0);
    const differs = Math.max(...Array.from(noPast.logits.data as Float32Array, (x, i) => Math.abs(x - lastCached[i])));
    expect(differs).toBeGreaterThan(1e-2);
  });

  it('stops at the end of the context and when the signal aborts, between tokens', async () => {
    const prompt = tokenizer.encode('one two three four five');
    expect(prompt).toHaveLength(5);
    expect(await collect(decodeTokens(recording(), prompt, { maxNewTokens: 50, nextToken: greedy, maxContext: 8 }))).toHaveLength(3);

    const abort = new AbortController();
    const model = recording();
    const got: number[] = [];
    for await (const id of decodeTokens(model, prompt, { maxNewTokens: 50, nextToken: greedy, signal: abort.signal })) {
      got.push(id);
      if (got.length === 3) abort.abort();
    }
    expect(got).toHaveLength(3);
    expect(model.fed).toHaveLength(3);
  });

  it('feeds position_ids and use_cache_branch only to a model that declares them', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const variant = async (options: { positionIds: boolean; cacheBranchInput: boolean }) => {
      const other = await InferenceSession.create(buildGpt2Decoder({ ...DEFAULT_GPT2_DECODER, ...options }), { intraOpNumThreads: 1 });
      const layout = decoderLayout({ path: 'variant', session: other });
      expect(layout).toMatchObject({ positionIds: options.positionIds, cacheBranch: options.cacheBranchInput });
      return collect(
        decodeTokens({ path: 'variant', session: other, run: (feeds) => other.run(feeds) }, prompt, { maxNewTokens: 8, nextToken: greedy }),
      );
    };
    const expected = await collect(decodeTokens(recording(), prompt, { maxNewTokens: 8, nextToken: greedy }));
    // Same weights; positions computed inside from the past length instead of fed; the merged decoder's flag fed.
    expect(await variant({ positionIds: false, cacheBranchInput: true })).toEqual(expected);
  });

  it('refuses a model that is not a decoder with past, saying what it lacks', async () => {
    const embedder = await InferenceSession.create(buildSentenceEmbedder(DEFAULT_EMBEDDER));
    expect(() => decoderLayout({ path: 'embed.onnx', session: embedder })).toThrow(/embed\.onnx is not a GPT-2-style decoder.*logits/);
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
  const counts = (sample: (l: Float32Array) => number, n = 4000) => {
    const c = [0, 0, 0];
    for (let i = 0; i < n; i++) c[sample(logits)] += 1;
    return c.map((x) => x / n);
  };

  it('is greedy at temperature 0', () => {
    expect(counts(createSampler({ temperature: 0, topP: 1 }), 50)).toEqual([1, 0, 0]);
  });

  it('draws by softmax(logits / temperature), replayably with a seed', () => {
    const [a, b, c] = counts(createSampler({ temperature: 1, topP: 1, seed: 1 }));
    expect(a).toBeCloseTo(0.5, 1);
    expect(b).toBeCloseTo(0.3, 1);
    expect(c).toBeCloseTo(0.2, 1);
    const draws = (seed: number) => {
      const sample = createSampler({ temperature: 1, topP: 1, seed });
      return Array.from({ length: 40 }, () => sample(logits));
    };
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    // A high temperature flattens: the least likely id comes up far more than 20% of the time.
    expect(counts(createSampler({ temperature: 5, topP: 1, seed: 2 }))[2]).toBeGreaterThan(0.28);
  });

  it('keeps only the nucleus with top_p', () => {
    expect(counts(createSampler({ temperature: 1, topP: 0.5, seed: 3 }))).toEqual([1, 0, 0]);
    const [a, b, c] = counts(createSampler({ temperature: 1, topP: 0.7, seed: 3 }));
    expect(c).toBe(0);
    expect(a).toBeCloseTo(0.5 / 0.8, 1);
    expect(b).toBeCloseTo(0.3 / 0.8, 1);
  });
});

describe('generateText', () => {
  const model = () => recording();

  it('stops at max_tokens with finish "length", counting the tokenizer’s tokens', async () => {
    const result = await generateText(model(), tokenizer, PROMPT, { maxTokens: 7, temperature: 0 }).complete();
    expect(result).toMatchObject({
      finishReason: 'length',
      completionTokens: 7,
      promptTokens: tokenizer.encode(PROMPT).length,
      aborted: false,
    });
    expect(result.text).toBe(tokenizer.decode(result.tokens));
  });

  it('stops at a stop string that spans two tokens, sends none of it, and holds back its start meanwhile', async () => {
    const full = await generateText(model(), tokenizer, PROMPT, { maxTokens: 20, temperature: 0 }).complete();
    // A stop string across the boundary after some token in the middle of the greedy answer.
    let stop = '';
    let stopToken = -1;
    for (let i = 5; i < 15 && !stop; i++) {
      const before = tokenizer.decode(full.tokens.slice(0, i + 1));
      const candidate = full.text.slice(before.length - 2, before.length + 2);
      if (full.text.startsWith(before) && candidate.length === 4 && full.text.indexOf(candidate) === before.length - 2) {
        stop = candidate;
        stopToken = i + 1;
      }
    }
    expect(stop).not.toBe('');
    const generation = generateText(model(), tokenizer, PROMPT, { maxTokens: 20, temperature: 0, stop: ['never appears', stop] });
    const pieces: string[] = [];
    for await (const piece of generation) pieces.push(piece);
    const expected = full.text.slice(0, full.text.indexOf(stop));
    expect(expected.length).toBeGreaterThan(0);
    expect(pieces.join('')).toBe(expected);
    expect(pieces.some((p) => p.includes(stop))).toBe(false);
    expect(generation.result).toMatchObject({ finishReason: 'stop', text: expected });
    // Generation ended with the token that completed the stop string.
    expect(generation.result!.tokens).toEqual(full.tokens.slice(0, stopToken + 1));
  });

  it('refuses a prompt that leaves no room in the context', () => {
    expect(() => generateText(model(), tokenizer, ' word'.repeat(20), { maxTokens: 5, maxContext: 10 })).toThrow(/prompt is 20 tokens/);
  });
});
