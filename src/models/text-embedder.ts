// Sentence embeddings from a model loaded from its export folder, the way sentence-transformers
// computes them: the folder's own tokenizer (tokenizer.json), cut to its max_seq_length, the
// encoder run on the padded batch, its float32 or float16 token vectors pooled as 1_Pooling says
// (mean, cls or max), and scaled to unit length when the model has a Normalize step.
import { Tensor } from 'onnxruntime-node';
import { floatData } from './float16.ts';
import { poolEmbeddings } from './pooling.ts';
import type { Model } from './session-cache.ts';
import { type TextEncoding, TextTokenizer } from './text-tokenizer.ts';

export interface Embedded {
  vector: number[];
  /** Tokens the model saw for this text, special tokens included (after cutting to max_seq_length). */
  tokens: number;
}

export interface TextEmbedderOptions {
  /** Cut inputs to this many tokens instead of the folder's max_seq_length. */
  maxSeqLength?: number;
}

export interface TextEmbedder {
  readonly model: Model;
  readonly tokenizer: TextTokenizer;
  readonly maxSeqLength: number;
  /** Token ids for a text, cut as they will be fed (so a caller can count tokens before embedding). */
  encode(text: string): TextEncoding;
  /** One vector per encoding, in order: one model run for the whole list. */
  embedEncodings(encodings: readonly TextEncoding[]): Promise<number[][]>;
  embed(texts: readonly string[]): Promise<Embedded[]>;
}

/** Feeds what the model declares: some exports take no token_type_ids. */
function feedsFor(model: Model, data: Record<string, BigInt64Array>, dims: number[]): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const name of model.inputNames) {
    const values = data[name];
    if (!values)
      throw new Error(`${model.path} wants an input "${name}"; a sentence-transformers export takes ${Object.keys(data).join(', ')}`);
    feeds[name] = new Tensor('int64', values, dims);
  }
  return feeds;
}

export function textEmbedder(model: Model, options: TextEmbedderOptions = {}): TextEmbedder {
  const folder = model.folder;
  if (!folder)
    throw new Error(
      `${model.path} was not loaded from a model folder: a text embedder needs the folder's tokenizer.json and pooling config`,
    );
  const tokenizer = TextTokenizer.fromFolder(folder.dir);
  const maxSeqLength = options.maxSeqLength ?? folder.maxSeqLength;
  const embedEncodings = async (encodings: readonly TextEncoding[]): Promise<number[][]> => {
    if (encodings.length === 0) return [];
    const batch = tokenizer.pad(encodings);
    const data = { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
    const output = await model.run(feedsFor(model, data, [batch.batchSize, batch.sequenceLength]));
    const name = output.last_hidden_state ? 'last_hidden_state' : model.outputNames[0];
    const hidden = output[name];
    return poolEmbeddings(
      folder.pooling,
      floatData(hidden, `${model.path}'s output ${name}`),
      hidden.dims,
      batch.attentionMask,
      folder.normalize,
    );
  };
  const encode = (text: string) => tokenizer.encode(text, maxSeqLength);
  return {
    model,
    tokenizer,
    maxSeqLength,
    encode,
    embedEncodings,
    async embed(texts) {
      const encodings = texts.map(encode);
      const vectors = await embedEncodings(encodings);
      return vectors.map((vector, i) => ({ vector, tokens: encodings[i].ids.length }));
    },
  };
}
