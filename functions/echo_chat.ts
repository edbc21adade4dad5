import { chatResponder, lastUserMessage, type ChatCompletionRequest, type FunctionContext } from 'cerebrium-local';

/**
 * An OpenAI-style chat function: streams the last user message back, a word at a time, as
 * chat.completion.chunk objects. Point the OpenAI SDK at …/demo/echo_chat (see the README); without
 * `stream: true` the route assembles the chunks into one chat.completion.
 */
export async function* echo_chat(params: ChatCompletionRequest, ctx: FunctionContext) {
  const chat = chatResponder(params, ctx);
  const words = lastUserMessage(params).match(/\s*\S+/g) ?? [];
  for (const word of words) {
    if (ctx.signal.aborted) return;
    yield chat.chunk(word);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  yield chat.finish('stop');
}
