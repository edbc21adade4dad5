// OpenAI shapes and small builders for functions served on the OpenAI-compatible routes
// (…/chat/completions and …/embeddings). Re-exported by src/index.ts, so it is loaded into every
// replica: plain data and functions only, no imports.
//
// The types are the parts of OpenAI's wire format these routes read or write, written out here
// rather than taken from the `openai` package, which user apps are not made to install.

/** One message of a chat request. `content` is a string or, in newer clients, a list of parts. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | (string & {});
  content?: string | Array<{ type: string; text?: string }> | null;
  name?: string;
  [field: string]: unknown;
}

/** The body of POST …/chat/completions, as the function receives it in `params`. */
export interface ChatCompletionRequest {
  messages: ChatMessage[];
  model?: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  [field: string]: unknown;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChatDelta {
  role?: 'assistant' | (string & {});
  content?: string | null;
  tool_calls?: ToolCallDelta[];
  [field: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{ index: number; delta: ChatDelta; finish_reason: FinishReason | null; logprobs?: unknown }>;
  /** Only on the one usage chunk (with `choices: []`) that ends a stream asked for with include_usage. */
  usage?: CompletionUsage | null;
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant' | (string & {}); content: string | null; refusal?: string | null; tool_calls?: ToolCall[] };
    finish_reason: FinishReason;
    logprobs: unknown;
  }>;
  usage: CompletionUsage;
}

/** The body of POST …/embeddings. The Node SDK sends `encoding_format: "base64"` unless told otherwise. */
export interface EmbeddingsRequest {
  input: string | string[] | number[] | number[][];
  model?: string;
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  [field: string]: unknown;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

const WORD_OR_MARK = /[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]/gu;

/**
 * A tokenizer-free estimate of a text's token count: each run of letters or digits is one token,
 * and so is each other non-space character. The routes use it for usage a function does not give;
 * a function that knows its real counts should report them (usage(), ChatResponder.usage()).
 */
export function estimateTokens(text: string): number {
  return text.match(WORD_OR_MARK)?.length ?? 0;
}

/** The text of a message's content, whichever form it came in. */
export function messageText(message: Pick<ChatMessage, 'content'>): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (typeof part?.text === 'string' ? part.text : '')).join('');
}

/** The text of the last message from the user, '' when there is none. */
export function lastUserMessage(request: Pick<ChatCompletionRequest, 'messages'>): string {
  const messages = Array.isArray(request.messages) ? request.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return messageText(messages[i]);
  }
  return '';
}

export function usage(promptTokens: number, completionTokens: number): CompletionUsage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** Usage as the routes count it when a function gives none: estimateTokens over every message, and over the answer. */
export function estimateUsage(request: Partial<Pick<ChatCompletionRequest, 'messages'>>, answer: string): CompletionUsage {
  const messages = Array.isArray(request.messages) ? request.messages : [];
  const prompt = messages.reduce((sum, message) => sum + estimateTokens(messageText(message ?? {})), 0);
  return usage(prompt, estimateTokens(answer));
}

export interface ChatResponderOptions {
  /** Defaults to `chatcmpl-<run id>`, the id the route itself gives chunks that have none. */
  id?: string;
  /** Defaults to the request's `model`. */
  model?: string;
}

/**
 * Builds the chunks (or the completion) of one answer, sharing its id, model and creation time:
 *
 *   const chat = chatResponder(params, ctx);
 *   for (const token of tokens) yield chat.chunk(token);
 *   yield chat.finish('stop');
 */
export interface ChatResponder {
  readonly id: string;
  readonly model: string;
  readonly created: number;
  /** A chunk carrying text (or any delta); the first one also says `role: "assistant"`. */
  chunk(delta: string | ChatDelta, finishReason?: FinishReason | null): ChatCompletionChunk;
  /** The empty-delta chunk that ends the answer. */
  finish(reason?: FinishReason): ChatCompletionChunk;
  /** The usage chunk (`choices: []`). The route sends it only when the caller asked for include_usage. */
  usage(promptTokens: number, completionTokens: number): ChatCompletionChunk;
  /** The whole answer as one chat.completion, for a function that does not stream. */
  completion(content: string, options?: { finishReason?: FinishReason; usage?: CompletionUsage }): ChatCompletion;
}

export function chatResponder(
  request: Partial<Pick<ChatCompletionRequest, 'model' | 'messages'>>,
  ctx: { runId: string },
  options: ChatResponderOptions = {},
): ChatResponder {
  const id = options.id ?? `chatcmpl-${ctx.runId}`;
  const model = options.model ?? (typeof request.model === 'string' ? request.model : '');
  const created = Math.floor(Date.now() / 1000);
  let roleSent = false;
  const chunk = (choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices,
    ...extra,
  });
  return {
    id,
    model,
    created,
    chunk(delta, finishReason = null) {
      const body: ChatDelta = typeof delta === 'string' ? { content: delta } : { ...delta };
      if (!roleSent) body.role ??= 'assistant';
      roleSent = true;
      return chunk([{ index: 0, delta: body, finish_reason: finishReason }]);
    },
    finish(reason = 'stop') {
      return chunk([{ index: 0, delta: {}, finish_reason: reason }]);
    },
    usage(promptTokens, completionTokens) {
      return chunk([], { usage: usage(promptTokens, completionTokens) });
    },
    completion(content, { finishReason = 'stop', usage: counted } = {}) {
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: finishReason, logprobs: null }],
        usage: counted ?? estimateUsage(request, content),
      };
    },
  };
}

/** Every text an embeddings `input` holds, for counting; token-id inputs count one per id. */
function inputTokens(input: unknown): number {
  if (typeof input === 'string') return estimateTokens(input);
  if (!Array.isArray(input)) return 0;
  return input.reduce<number>((sum, item) => sum + (typeof item === 'number' ? 1 : inputTokens(item)), 0);
}

/** Counts an embeddings request's input as the routes do (see estimateTokens). */
export function embeddingTokens(input: unknown): number {
  return inputTokens(input);
}

/**
 * An embeddings response with float vectors (typed arrays are copied to plain arrays). The route
 * re-encodes them as base64 when the caller asked for it, so a function never has to.
 */
export function embeddingsResponse(
  vectors: ArrayLike<number>[],
  options: { model?: string; input?: unknown; promptTokens?: number } = {},
): EmbeddingsResponse {
  const promptTokens = options.promptTokens ?? embeddingTokens(options.input);
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({ object: 'embedding', index, embedding: Array.from(vector) })),
    model: options.model ?? '',
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
