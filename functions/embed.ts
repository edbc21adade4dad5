// Sentence embeddings, as sentence-transformers computes them, from any Hugging Face-style export
// folder: the folder's own tokenizer (tokenizer.json), its encoder (onnx/model.onnx, or the dtype
// EMBED_MODEL_DTYPE names), its pooling (1_Pooling/config.json: mean, cls or max) and max_seq_length,
// then unit length. Calls that arrive together on a replica share one model run, within a token budget.
//
// The folder is EMBED_MODEL (absolute, or a name under the app's models/), else models/embed. When
// models/embed is missing, a generated stand-in folder with the same layout and random weights is
// written there first (see models/README.md): its vectors are deterministic but carry no meaning.
// Put a real export folder there, or point EMBED_MODEL at one, for real embeddings.
import { fileURLToPath } from 'node:url';
import { defineFunction, type FunctionContext, Type } from 'cerebrium-local';
import { batched, type Embedded, loadTextEmbedder, MODEL_DTYPES, type ModelDtype, type TextEmbedder } from 'cerebrium-local/models';
import { ensureDemoFolder } from '../src/models/stand-ins/demo-models.ts';

// The demo app's own folder, so the function finds its model when another app re-exports it.
const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_FOLDER = 'embed';
/** Padded tokens per model run (longest input × batch size), as Text Embeddings Inference budgets a batch. */
const MAX_BATCH_TOKENS = 16384;

function configuredDtype(): ModelDtype | undefined {
  const dtype = process.env.EMBED_MODEL_DTYPE;
  if (dtype === undefined || dtype === '') return undefined;
  if (!(MODEL_DTYPES as readonly string[]).includes(dtype)) throw new Error(`EMBED_MODEL_DTYPE must be one of ${MODEL_DTYPES.join(', ')}; got "${dtype}"`);
  return dtype as ModelDtype;
}

let embedder: Promise<TextEmbedder> | undefined;
/** The folder's model, tokenizer and pooling, loaded by the first call (or the warm-up) in this replica and kept. */
function getEmbedder(): Promise<TextEmbedder> {
  embedder ??= (async () => {
    const folder = process.env.EMBED_MODEL || DEFAULT_FOLDER;
    if (folder === DEFAULT_FOLDER) await ensureDemoFolder(APP_DIR, DEFAULT_FOLDER);
    return loadTextEmbedder(folder, { appDir: APP_DIR, dtype: configuredDtype() });
  })();
  embedder.catch(() => (embedder = undefined));
  return embedder;
}

interface Input {
  text: string;
  /** Its token ids, counted before batching so the token budget knows each input's length. */
  encoding?: ReturnType<TextEmbedder['encode']>;
}

/** One text per caller in, one vector per caller out; an empty text fails only its own caller. */
const embedInputs = batched<Input, Embedded>(
  { maxBatchSize: 32, maxWaitMs: 5, maxBatchTokens: MAX_BATCH_TOKENS, tokens: (input) => input.encoding?.ids.length ?? 0 },
  async (inputs) => {
    const { embedEncodings } = await getEmbedder();
    const results: Array<Embedded | Error> = inputs.map(() => new Error('not embedded'));
    const good: number[] = [];
    inputs.forEach((input, i) => {
      if (input.text.trim() === '' || !input.encoding) results[i] = new Error('An input is empty: each input must have some text');
      else good.push(i);
    });
    const encodings = good.map((i) => inputs[i].encoding as NonNullable<Input['encoding']>);
    const vectors = await embedEncodings(encodings);
    good.forEach((i, k) => (results[i] = { vector: vectors[k], tokens: encodings[k].ids.length }));
    return results;
  },
);

async function embedText(text: string, ctx: FunctionContext): Promise<Embedded> {
  const { encode } = await getEmbedder();
  return embedInputs({ text, encoding: text.trim() === '' ? undefined : encode(text) }, ctx);
}

/** Warm-up (min_replicas > 0): the replica loads the folder and runs one batch before it takes calls. */
export const models = [async function embedModel() {
  const { embed: run } = await getEmbedder();
  await run(['warm-up']);
}];

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
    const embedded = await Promise.all(texts.map((text) => embedText(text, ctx)));
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
