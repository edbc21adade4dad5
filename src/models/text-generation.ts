// Text generation with a GPT-2-style decoder ONNX export that takes and gives its key/value cache:
//
//   inputs   input_ids        int64 [batch, sequence]            the new tokens only, once cached
//            attention_mask   int64 [batch, past + sequence]     ones: batch 1 has no padding
//            position_ids     int64 [batch, sequence]            past … past + sequence − 1 (when declared)
//            past_key_values.{i}.key / .value   float32 [batch, heads, past, head_dim]
//            use_cache_branch bool [1]          (only optimum's merged decoder declares it)
//   outputs  logits           float32 [batch, sequence, vocab]
//            present.{i}.key / .value           float32 [batch, heads, past + sequence, head_dim]
//
// The first call feeds the whole prompt with empty (length-0) past tensors; every later call feeds
// the one token just chosen with the previous call's present.* as its past. decodeTokens yields ids;
// generateText turns them into text pieces with sampling, stop strings and max_tokens.
import { Tensor } from 'onnxruntime-node';
import { type ChatMessage, type FinishReason, messageText } from '../openai.ts';
import type { BpeTokenizer } from './bpe-tokenizer.ts';
import { seededRandom } from './seeded-random.ts';
import type { Model } from './session-cache.ts';

/** What generation needs of a loaded model (a Model from loadModel has it all). */
export type DecoderModel = Pick<Model, 'path' | 'session' | 'run'>;

export interface DecoderLayout {
  layers: number;
  heads: number;
  headDim: number;
  /** Output names of each layer's new cache, in layer order. */
  present: Array<{ key: string; value: string }>;
  positionIds: boolean;
  cacheBranch: boolean;
}

const PAST_KEY = /^past_key_values\.(\d+)\.key$/;

/** Reads the cache layout from the names and shapes the model declares; says what is wrong when it is not a decoder with past. */
export function decoderLayout(model: Pick<DecoderModel, 'path' | 'session'>): DecoderLayout {
  const { session } = model;
  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  const layers = session.inputNames.filter((name) => PAST_KEY.test(name)).length;
  const problem = (why: string) =>
    new Error(
      `${model.path} is not a GPT-2-style decoder with past key/values (${why}); it needs inputs input_ids, attention_mask, ` +
        'past_key_values.{i}.key/.value and outputs logits, present.{i}.key/.value',
    );
  if (!inputs.has('input_ids') || !inputs.has('attention_mask')) throw problem('no input_ids or attention_mask input');
  if (!outputs.has('logits')) throw problem('no logits output');
  if (layers === 0) throw problem('no past_key_values.0.key input');

  const present: DecoderLayout['present'] = [];
  for (let i = 0; i < layers; i++) {
    if (!inputs.has(`past_key_values.${i}.key`) || !inputs.has(`past_key_values.${i}.value`)) {
      throw problem(`layer ${i} lacks a past input`);
    }
    // optimum names them present.{i}.*; some later exports present_key_values.{i}.*.
    const prefix = [`present.${i}`, `present_key_values.${i}`].find((p) => outputs.has(`${p}.key`) && outputs.has(`${p}.value`));
    if (!prefix) throw problem(`no present.${i}.key/.value output`);
    present.push({ key: `${prefix}.key`, value: `${prefix}.value` });
  }
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch']);
  const unknown = session.inputNames.filter((name) => !known.has(name) && !/^past_key_values\.\d+\.(key|value)$/.test(name));
  if (unknown.length > 0) throw problem(`it also wants ${unknown.join(', ')}`);

  const meta = session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
  const dims = meta?.isTensor ? meta.shape : [];
  if (meta?.isTensor && meta.type !== 'float32') throw problem(`its cache is ${meta.type}; only float32 is fed`);
  const [, heads, , headDim] = dims;
  if (typeof heads !== 'number' || typeof headDim !== 'number') {
    throw problem(`past_key_values.0.key has shape [${dims.join(', ')}], not [batch, heads, past, head_dim] with fixed heads and head_dim`);
  }
  return { layers, heads, headDim, present, positionIds: inputs.has('position_ids'), cacheBranch: inputs.has('use_cache_branch') };
}

export interface DecodeOptions {
  /** At most this many new tokens. */
  maxNewTokens: number;
  /** Picks the next id from the last position's logits (see createSampler). */
  nextToken: (logits: Float32Array) => number;
  /** Checked before each model run: generation ends between tokens once it aborts. */
  signal?: AbortSignal;
  /** Prompt and answer together never pass this many tokens (the model's positions). */
  maxContext?: number;
  /** false: feed the whole sequence every step with an empty cache (slow; to check the cache against). */
  useCache?: boolean;
  /** Read from the model when not given. */
  layout?: DecoderLayout;
}

const int64 = (values: number[]) => new Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The new ids, one per model run, batch 1. The caller ends it early by breaking out (e.g. at <|endoftext|>). */
export async function* decodeTokens(
  model: DecoderModel,
  promptIds: readonly number[],
  options: DecodeOptions,
): AsyncGenerator<number, void, undefined> {
  if (promptIds.length === 0) throw new Error('The prompt has no tokens');
  const layout = options.layout ?? decoderLayout(model);
  const useCache = options.useCache ?? true;
  const maxContext = options.maxContext ?? Infinity;
  const emptyCache = (): Tensor[] => {
    const empty = new Tensor('float32', new Float32Array(0), [1, layout.heads, 0, layout.headDim]);
    return layout.present.flatMap(() => [empty, empty]);
  };

  const sequence = [...promptIds];
  let past = emptyCache(); // key, value, key, value, … by layer
  let pastLength = 0;
  for (let produced = 0; produced < options.maxNewTokens && sequence.length < maxContext; produced++) {
    if (options.signal?.aborted) return;
    const fed = sequence.slice(pastLength);
    const feeds: Record<string, Tensor> = {
      input_ids: int64(fed),
      attention_mask: int64(sequence.map(() => 1)),
    };
    if (layout.positionIds) feeds.position_ids = int64(range(pastLength, sequence.length));
    if (layout.cacheBranch) feeds.use_cache_branch = new Tensor('bool', Uint8Array.of(pastLength > 0 ? 1 : 0), [1]);
    for (let i = 0; i < layout.layers; i++) {
      feeds[`past_key_values.${i}.key`] = past[2 * i];
      feeds[`past_key_values.${i}.value`] = past[2 * i + 1];
    }
    const out = await model.run(feeds);

    const logits = out.logits;
    const vocab = logits.dims[2];
    const all = logits.data as Float32Array;
    const id = options.nextToken(all.subarray((fed.length - 1) * vocab, fed.length * vocab));
    sequence.push(id);
    if (useCache) {
      past = layout.present.flatMap(({ key, value }) => [out[key] as Tensor, out[value] as Tensor]);
      pastLength = sequence.length - 1;
    }
    yield id;
  }
}

export interface SamplingOptions {
  /** 0 is greedy (the likeliest id); above it, logits are divided by it before softmax. */
  temperature: number;
  /** Nucleus sampling: only the likeliest ids whose probabilities add up to top_p are drawn from. */
  topP: number;
  /** The same seed (and model and prompt) gives the same tokens; random when not given. */
  seed?: number;
}

/** A function from logits to the next id, greedy or sampled. */
export function createSampler({ temperature, topP, seed }: SamplingOptions): (logits: Float32Array) => number {
  if (!(temperature > 0)) return argmax;
  const random = seededRandom(seed ?? Math.floor(Math.random() * 2 ** 32));
  let probabilities = new Float64Array(0);
  return (logits) => {
    if (probabilities.length !== logits.length) probabilities = new Float64Array(logits.length);
    const max = logits[argmax(logits)];
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += probabilities[i] = Math.exp((logits[i] - max) / temperature);
    for (let i = 0; i < logits.length; i++) probabilities[i] /= sum;
    const floor = topP < 1 ? nucleusFloor(probabilities, topP) : 0;
    let kept = 0;
    for (let i = 0; i < probabilities.length; i++) if (probabilities[i] >= floor) kept += probabilities[i];
    let target = random() * kept;
    let last = -1;
    for (let i = 0; i < probabilities.length; i++) {
      if (probabilities[i] < floor) continue;
      last = i;
      target -= probabilities[i];
      if (target < 0) return i;
    }
    return last; // rounding left a sliver: the last kept id
  };
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * The highest probability p such that the ids with probability ≥ p add up to at least topP: those
 * ids are the nucleus (ids tied at its edge all stay). No sort of the vocabulary: one pass files
 * each probability in a log-scale bucket below the largest, the buckets' masses from the top find
 * the one where topP is reached, and only that bucket's few values are sorted.
 */
function nucleusFloor(probabilities: Float64Array, topP: number): number {
  const PER_HALVING = 16;
  const BUCKETS = 64 * PER_HALVING; // down to 2^-64 of the largest; anything smaller shares the last
  let max = 0;
  for (let i = 0; i < probabilities.length; i++) if (probabilities[i] > max) max = probabilities[i];
  const bucketOf = (p: number) => (p <= 0 ? BUCKETS - 1 : Math.min(BUCKETS - 1, Math.floor(-Math.log2(p / max) * PER_HALVING)));
  const buckets = new Uint16Array(probabilities.length);
  const mass = new Float64Array(BUCKETS);
  for (let i = 0; i < probabilities.length; i++) {
    buckets[i] = bucketOf(probabilities[i]);
    mass[buckets[i]] += probabilities[i];
  }
  let above = 0; // the mass of the buckets before b
  let b = 0;
  while (b < BUCKETS - 1 && above + mass[b] < topP) above += mass[b++];
  const edge: number[] = [];
  for (let i = 0; i < probabilities.length; i++) if (buckets[i] === b) edge.push(probabilities[i]);
  edge.sort((x, y) => y - x);
  for (const p of edge) {
    above += p;
    if (above >= topP) return p;
  }
  return edge.at(-1) ?? 0; // rounding kept the sum just under topP: the whole bucket
}

/**
 * The prompt a chat becomes for a plain language model such as GPT-2, which has no chat template:
 * one "Role: text" line per message (System, User, Assistant, Tool, …; a role's first letter in
 * capitals), then "Assistant:" for the model to go on from.
 *
 *   System: You are terse.
 *   User: Hello!
 *   Assistant:
 */
export function chatPrompt(messages: readonly Pick<ChatMessage, 'role' | 'content'>[]): string {
  const lines = messages.map(({ role, content }) => `${role.charAt(0).toUpperCase()}${role.slice(1)}: ${messageText({ content })}`);
  return [...lines, 'Assistant:'].join('\n');
}

export interface TextGenerationOptions extends Partial<SamplingOptions> {
  /** max_tokens: at most this many new tokens (<|endoftext|> included). */
  maxTokens: number;
  /** Generation ends at the first of these in the text; it and what follows are not sent. */
  stop?: readonly string[];
  signal?: AbortSignal;
  /** The model's positions: prompt and answer together never pass it (GPT-2: 1024). */
  maxContext?: number;
  /** false checks the cache: the whole sequence is run again for every token. */
  useCache?: boolean;
}

export interface TextGenerationResult {
  /** "stop" at a stop string or <|endoftext|>; "length" at max_tokens or the end of the context. */
  finishReason: Extract<FinishReason, 'stop' | 'length'>;
  /** The text sent: every piece joined. */
  text: string;
  /** Every id generated, including those of a stop string and <|endoftext|>. */
  tokens: number[];
  promptTokens: number;
  /** tokens.length: what the model generated, as OpenAI counts it. */
  completionTokens: number;
  /** The signal aborted before generation ended. */
  aborted: boolean;
}

/** Text pieces as tokens come (`for await`), then `result`. Iterate it once. */
export class TextGeneration implements AsyncIterable<string> {
  /** Set once the iteration has ended. */
  result: TextGenerationResult | undefined;
  readonly promptIds: readonly number[];

  constructor(
    private readonly model: DecoderModel,
    private readonly tokenizer: BpeTokenizer,
    prompt: string,
    private readonly options: TextGenerationOptions,
  ) {
    this.promptIds = tokenizer.encode(prompt);
    const maxContext = options.maxContext ?? Infinity;
    if (this.promptIds.length === 0) throw new Error('The prompt is empty');
    if (this.promptIds.length >= maxContext) {
      throw new Error(`The prompt is ${this.promptIds.length} tokens; this model takes at most ${maxContext}, prompt and answer together`);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    const { tokenizer, options } = this;
    const stops = (options.stop ?? []).filter((s) => s.length > 0);
    const decoder = tokenizer.streamDecoder();
    const tokens: number[] = [];
    let text = ''; // decoded so far
    let sent = 0; // text.slice(0, sent) has been yielded
    let finishReason: TextGenerationResult['finishReason'] = 'length';
    let stopAt = -1;

    const ids = decodeTokens(this.model, this.promptIds, {
      maxNewTokens: options.maxTokens,
      nextToken: createSampler({ temperature: options.temperature ?? 1, topP: options.topP ?? 1, seed: options.seed }),
      signal: options.signal,
      maxContext: options.maxContext,
      useCache: options.useCache,
    });
    for await (const id of ids) {
      tokens.push(id);
      if (id === tokenizer.eosId) {
        finishReason = 'stop';
        break;
      }
      text += decoder.push(id);
      stopAt = firstStop(text, stops, sent);
      if (stopAt >= 0) {
        finishReason = 'stop';
        break;
      }
      // Hold back an ending that may be the start of a stop string: it is sent once it is not.
      const safe = text.length - stopPrefixLength(text, stops, sent);
      if (safe > sent) {
        yield text.slice(sent, safe);
        sent = safe;
      }
    }
    if (stopAt < 0) {
      text += decoder.flush();
      stopAt = firstStop(text, stops, sent);
      if (stopAt >= 0) finishReason = 'stop';
    }
    const end = stopAt >= 0 ? stopAt : text.length;
    if (end > sent) yield text.slice(sent, end);
    this.result = {
      finishReason,
      text: text.slice(0, end),
      tokens,
      promptTokens: this.promptIds.length,
      completionTokens: tokens.length,
      aborted: options.signal?.aborted ?? false,
    };
  }

  /** Runs to the end and gives the result (for callers that do not stream). */
  async complete(): Promise<TextGenerationResult> {
    for await (const piece of this) void piece;
    if (!this.result) throw new Error('The text generation ended without a result');
    return this.result;
  }
}

export function generateText(model: DecoderModel, tokenizer: BpeTokenizer, prompt: string, options: TextGenerationOptions): TextGeneration {
  return new TextGeneration(model, tokenizer, prompt, options);
}

/** Where the earliest stop string begins at or after `from`, or -1. */
function firstStop(text: string, stops: readonly string[], from: number): number {
  let first = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

/** The length of the longest ending of text (after `from`) that some stop string begins with. */
function stopPrefixLength(text: string, stops: readonly string[], from: number): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length - from); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
