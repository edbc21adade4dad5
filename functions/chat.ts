// Streaming text generation for the chat/completions route: the chat's messages → a plain prompt
// ("Role: text" lines, then "Assistant:") → GPT-2's BPE tokens (r50k_base, from js-tiktoken) → a
// decoder ONNX model run once per token with its key/value cache → one chunk per token.
// Greedy at temperature 0, else temperature/top-p sampling (`seed` replays it); max_tokens, stop
// strings, usage with the tokenizer's real counts.
//
// The model is models/chat.onnx. When it is missing, a generated stand-in with GPT-2's interface
// and random weights is written there first (see models/README.md): its text is gibberish. Put a
// real GPT-2 export (with past key/values) in its place for real text.
import { fileURLToPath } from 'node:url';
import { chatResponder, defineFunction, Type, type FunctionContext, type TSchema } from 'cerebrium-local';
import { loadModel, type Model } from 'cerebrium-local/models';
import { ensureDemoModel } from '../src/models/stand-ins/demo-models.ts';
import { BpeTokenizer, chatPrompt, decoderLayout, generateText } from 'cerebrium-local/text-generation';

// The demo app's own folder, so the function finds its model when another app re-exports it.
const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const MODEL_FILE = 'chat.onnx';
/** GPT-2's n_positions: prompt and answer together. */
const MAX_CONTEXT = 1024;
/** When the request gives no max_tokens (OpenAI's default is the rest of the context). */
const DEFAULT_MAX_TOKENS = 128;
/** The prompt is a transcript, so a model that goes on to write the user's next line is cut there. */
const TURN_END = '\nUser:';

let generator: Promise<{ model: Model; tokenizer: BpeTokenizer }> | undefined;
/** The model and tokenizer, loaded by the first call in this replica and kept. */
function getGenerator() {
  generator ??= (async () => {
    await ensureDemoModel(APP_DIR, MODEL_FILE);
    const model = await loadModel(MODEL_FILE, { appDir: APP_DIR });
    decoderLayout(model); // a file that is not a decoder with past fails here, with what it lacks
    return { model, tokenizer: BpeTokenizer.gpt2() };
  })();
  generator.catch(() => (generator = undefined));
  return generator;
}

/** An optional key that may also be null, as OpenAI clients send unset options. */
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

export const chat = defineFunction(
  {
    params: Type.Object(
      {
        messages: Type.Array(
          Type.Object(
            {
              role: Type.String(),
              content: nullable(
                Type.Union([Type.String(), Type.Array(Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) }, { additionalProperties: true }))]),
              ),
            },
            { additionalProperties: true },
          ),
          { minItems: 1 },
        ),
        model: Type.Optional(Type.String()),
        max_tokens: nullable(Type.Integer({ minimum: 1 })),
        max_completion_tokens: nullable(Type.Integer({ minimum: 1 })),
        temperature: nullable(Type.Number({ minimum: 0, maximum: 2 })),
        top_p: nullable(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
        stop: nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
        seed: nullable(Type.Integer()),
        n: nullable(Type.Literal(1, { description: 'One choice per request' })),
      },
      // OpenAI clients send keys such as `stream`, `stream_options` or `user`; the route reads the first two.
      { additionalProperties: true },
    ),
    description: 'Streaming text generation (OpenAI chat/completions) with a GPT-2-style decoder and its KV cache',
  },
  async function* (params, ctx: FunctionContext) {
    const { model, tokenizer } = await getGenerator();
    const answer = chatResponder(params, ctx, { model: params.model ?? 'gpt2' });
    const stop = typeof params.stop === 'string' ? [params.stop] : (params.stop ?? []);
    const generation = generateText(model, tokenizer, chatPrompt(params.messages), {
      maxTokens: params.max_completion_tokens ?? params.max_tokens ?? DEFAULT_MAX_TOKENS,
      temperature: params.temperature ?? 1,
      topP: params.top_p ?? 1,
      seed: params.seed ?? undefined,
      stop: [...stop, TURN_END],
      signal: ctx.signal,
      maxContext: MAX_CONTEXT,
    });
    for await (const text of generation) yield answer.chunk(text);
    const result = generation.result;
    if (!result || result.aborted) return;
    yield answer.finish(result.finishReason);
    yield answer.usage(result.promptTokens, result.completionTokens);
  },
);
