// POST /v4/:projectId/:appName/:functionName/chat/completions — the function gets the OpenAI request
// body as its params. `stream: true` answers SSE of chat.completion.chunk objects ending in
// `data: [DONE]`; otherwise the chat.completion object itself (not the {run_id, result} envelope,
// which the OpenAI SDK cannot read).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { type ChatCompletion, type ChatCompletionRequest, estimateUsage, messageText } from '../openai.ts';
import type { Run } from '../runs/run.ts';
import { runError } from '../runs/run-outcome.ts';
import type { RunService } from '../runs/run-service.ts';
import { resetWhenSettled } from './fault-reply.ts';
import { ChatChunkReader, type ChunkDefaults, completionAsChunks, isJsonObject, SSE_DONE, sseData } from './openai-chat-chunks.ts';
import { openAiErrorFrame } from './openai-errors.ts';
import { acceptAsync, startForCaller } from './run-reply.ts';
import { type FunctionRoute, parseRunRequest } from './run-request.ts';
import { type SseFraming, type SseOptions, streamRun } from './sse-stream.ts';

export interface OpenAiRouteOptions {
  runs: RunService;
  sse: SseOptions;
}

export function registerChatRoute(scope: FastifyInstance, { runs, sse }: OpenAiRouteOptions): void {
  scope.post<FunctionRoute>('/v4/:projectId/:appName/:functionName/chat/completions', async (request, reply) => {
    const { request: runRequest, async } = await parseRunRequest(request, runs);
    if (async) return acceptAsync(reply, runs, runRequest);

    // A generator's chunks come unframed ('raw') whether or not the caller streams: read here one
    // by one, they are either passed on or assembled, with no guessing at joined strings.
    const started = startForCaller(reply, runs, runRequest, (fn) => (fn.kind === 'function' ? false : 'raw'));
    if (runRequest.fault?.reset) return resetWhenSettled(reply, started);
    const { run } = started;
    const body = run.params as Partial<ChatCompletionRequest>;
    const streaming = body.stream === true;
    const includeUsage = streaming && isJsonObject(body.stream_options) && body.stream_options.include_usage === true;
    const reader = new ChatChunkReader(chunkDefaults(run), body);

    if (!started.stream) {
      await started.settled;
      const completion = completionOf(run, reader, sse.exposeStack);
      if (!streaming) return sendJson(reply, completion);
      // A plain function asked to stream: its whole answer as one chunk per choice, then the end.
      const frames = completionAsChunks(completion).map(sseData);
      if (includeUsage) {
        const { id, created, model, usage } = completion;
        frames.push(sseData({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }));
      }
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(frames.join('') + SSE_DONE);
    }

    if (streaming) return streamRun(reply, started, sse, openAiFraming(reader, includeUsage));

    for await (const chunk of started.chunks()) reader.read(chunk);
    await started.settled;
    if (run.status !== 'success') throw runError(run, sse.exposeStack);
    return sendJson(reply, reader.completion());
  });
}

function chunkDefaults(run: Run): ChunkDefaults {
  const model = run.params.model;
  return { id: `chatcmpl-${run.id}`, created: Math.floor(Date.now() / 1000), model: typeof model === 'string' ? model : run.functionName };
}

/** Chunks as `data:` frames; the end adds a finish (when none came), usage (when asked) and `[DONE]`. */
function openAiFraming(reader: ChatChunkReader, includeUsage: boolean): SseFraming {
  return {
    frame: (chunk) => reader.read(chunk).map(sseData).join(''),
    end: () => reader.closing(includeUsage).map(sseData).join('') + SSE_DONE,
    error: openAiErrorFrame,
  };
}

/** A plain function's result as a chat.completion: a completion it built, its text, or a list of chunks. */
function completionOf(run: Run, reader: ChatChunkReader, exposeStack: boolean): ChatCompletion {
  if (run.status !== 'success') throw runError(run, exposeStack);
  const value: unknown = JSON.parse(run.resultJson ?? 'null');
  const hasChoices = isJsonObject(value) && Array.isArray(value.choices);
  if (hasChoices && value.object !== 'chat.completion.chunk') {
    return withDefaults(value, reader.completion(), run.params as Partial<ChatCompletionRequest>);
  }
  if (typeof value === 'string' || Array.isArray(value) || hasChoices) {
    for (const item of Array.isArray(value) ? value : [value]) reader.read(item);
    return reader.completion();
  }
  throw new CerebriumLocalError(
    'invalid_chat_result',
    `A chat function must return a chat.completion, a string, or chunks (or yield them); "${run.functionName}" returned ${value === null ? 'null' : isJsonObject(value) ? 'an object without "choices"' : typeof value}`,
  );
}

/** A completion the function built, with what it left out filled in. */
function withDefaults(value: Record<string, unknown>, empty: ChatCompletion, request: Partial<ChatCompletionRequest>): ChatCompletion {
  const completion = { ...value } as unknown as ChatCompletion;
  if (typeof completion.id !== 'string') completion.id = empty.id;
  completion.object = 'chat.completion';
  if (typeof completion.created !== 'number') completion.created = empty.created;
  if (typeof completion.model !== 'string') completion.model = empty.model;
  if (!isJsonObject(completion.usage)) {
    const answer = completion.choices.map((c) => (isJsonObject(c?.message) ? messageText(c.message) : '')).join('');
    completion.usage = estimateUsage(request, answer);
  }
  return completion;
}

function sendJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(value));
}
