// The functions of this app. Each export is served at POST /v4/<projectId>/<appName>/<exportName>;
// names that start with `_` stay private. See README.md for how to call each one.
import { type ChatCompletionRequest, chatResponder, defineFunction, type FunctionContext, lastUserMessage, Type } from 'cerebrium-local';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Words of a text, each with the spaces before it, so joining them gives the text back. */
const pieces = (text: string): string[] => text.match(/\s*\S+/g) ?? [];

/**
 * A plain (sync) function: the JSON body comes in as `params`, and what it returns is the `result`.
 * The schema makes a call without a string `text` a 422 that names the bad key.
 */
export const predict = defineFunction(
  {
    params: Type.Object({ text: Type.String({ minLength: 1, description: 'The text to look at' }) }),
    description: 'Counts the words of a text and spells it backwards',
  },
  ({ text }, ctx: FunctionContext) => {
    ctx.log.info({ chars: text.length }, 'predicting');
    return {
      words: text.split(/\s+/).filter(Boolean).length,
      reversed: [...text].reverse().join(''),
      app: ctx.appName,
    };
  },
);

/**
 * A streaming function: each value it yields is one Server-Sent Event when the caller sends
 * `Accept: text/event-stream`. Without that header the chunks come back joined into one result.
 */
export const stream = defineFunction(
  {
    params: Type.Object({
      prompt: Type.String({ description: 'The text to stream back, a word per event' }),
      delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 5000, description: 'Pause between events' })),
    }),
    description: 'Streams a prompt back word by word',
  },
  async function* ({ prompt, delay_ms = 50 }, ctx: FunctionContext) {
    for (const piece of pieces(prompt)) {
      // The caller went away (or the run was cancelled): stop working for nobody.
      if (ctx.signal.aborted) return;
      yield piece;
      await sleep(delay_ms);
    }
  },
);

/**
 * An OpenAI-style chat function, for POST …/chat/chat/completions (the OpenAI SDK with
 * baseURL …/v4/<projectId>/<appName>/chat). It answers by echoing the last user message word by
 * word; put a real model's tokens in its place.
 */
export async function* chat(params: ChatCompletionRequest, ctx: FunctionContext) {
  const reply = chatResponder(params, ctx);
  for (const piece of pieces(`You said: ${lastUserMessage(params)}`)) {
    if (ctx.signal.aborted) return;
    yield reply.chunk(piece);
  }
  yield reply.finish('stop');
}
