// Sentence embeddings, as sentence-transformers computes them: WordPiece tokens → a BERT encoder
// (ONNX: input_ids, attention_mask, token_type_ids → last_hidden_state) → mean pooling over the
// real tokens → unit length. Calls that arrive together on a replica share one model run.
//
// The model is models/embed.onnx. When it is missing, a generated stand-in with the same interface
// and random weights is written there first (see models/README.md): its vectors are deterministic
// but carry no meaning. Put a real all-MiniLM-L6-v2 export in its place for real embeddings.
import { fileURLToPath } from 'node:url';
import { defineFunction, Type, type FunctionContext } from 'cerebrium-local';
import { batched, loadModel, meanPoolNormalized, Tensor, WordPieceTokenizer, type Model } from 'cerebrium-local/models';
import { ensureDemoModel } from '../src/models/stand-ins/demo-models.ts';

// The demo app's own folder, so the function finds its model when another app re-exports it.
const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const MODEL_FILE = 'embed.onnx';
/** all-MiniLM-L6-v2's max_seq_length: longer inputs are cut, as sentence-transformers does. */
const MAX_TOKENS = 256;

interface Embedder {
  model: Model;
  tokenizer: WordPieceTokenizer;
}

let embedder: Promise<Embedder> | undefined;
/** The model and tokenizer, loaded by the first call in this replica and kept. */
function getEmbedder(): Promise<Embedder> {
  embedder ??= (async () => {
    await ensureDemoModel(APP_DIR, MODEL_FILE);
    return { model: await loadModel(MODEL_FILE, { appDir: APP_DIR }), tokenizer: WordPieceTokenizer.bertBaseUncased() };
  })();
  embedder.catch(() => (embedder = undefined));
  return embedder;
}

interface Embedded {
  vector: number[];
  tokens: number;
}

/** One text per caller in, one vector per caller out; an empty text fails only its own caller. */
const embedTexts = batched({ maxBatchSize: 32, maxWaitMs: 5 }, async (texts: string[]): Promise<Array<Embedded | Error>> => {
  const { model, tokenizer } = await getEmbedder();
  const results: Array<Embedded | Error> = texts.map(() => new Error('not embedded'));
  const good: number[] = [];
  texts.forEach((text, i) => {
    if (text.trim() === '') results[i] = new Error('An input is empty: each input must have some text');
    else good.push(i);
  });
  if (good.length === 0) return results;

  const encodings = good.map((i) => tokenizer.encode(texts[i], MAX_TOKENS));
  const batch = tokenizer.pad(encodings);
  const dims = [batch.batchSize, batch.sequenceLength];
  const available: Record<string, BigInt64Array> = {
    input_ids: batch.inputIds,
    attention_mask: batch.attentionMask,
    token_type_ids: batch.tokenTypeIds,
  };
  // Feed what the model declares: some exports take no token_type_ids.
  const feeds: Record<string, Tensor> = {};
  for (const name of model.inputNames) {
    const data = available[name];
    if (!data) throw new Error(`${model.path} wants an input "${name}"; a sentence-transformers BERT export takes ${Object.keys(available).join(', ')}`);
    feeds[name] = new Tensor('int64', data, dims);
  }
  const output = await model.run(feeds);
  const hidden = output.last_hidden_state ?? output[model.outputNames[0]];
  const vectors = meanPoolNormalized(hidden.data as Float32Array, hidden.dims, batch.attentionMask);
  good.forEach((i, k) => (results[i] = { vector: vectors[k], tokens: encodings[k].ids.length }));
  return results;
});

/** Little-endian float32 bytes in base64, as OpenAI's `encoding_format: "base64"` answers. */
function toBase64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

export const embed = defineFunction(
  {
    params: Type.Object(
      {
        input: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 2048 })], {
          description: 'A text, or a list of texts, to embed',
        }),
        model: Type.Optional(Type.String()),
        encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
      },
      // OpenAI clients send keys such as `user` or `dimensions`; they are accepted and ignored.
      { additionalProperties: true },
    ),
    description: 'Sentence embeddings (OpenAI embeddings shape), batched across concurrent callers',
  },
  async ({ input, model, encoding_format }, ctx: FunctionContext) => {
    const texts = Array.isArray(input) ? input : [input];
    const embedded = await Promise.all(texts.map((text) => embedTexts(text, ctx)));
    const tokens = embedded.reduce((sum, e) => sum + e.tokens, 0);
    return {
      object: 'list',
      data: embedded.map((e, index) => ({
        object: 'embedding',
        index,
        embedding: encoding_format === 'base64' ? toBase64(e.vector) : e.vector,
      })),
      model: model ?? 'all-MiniLM-L6-v2',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  },
);
