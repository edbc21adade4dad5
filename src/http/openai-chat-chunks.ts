// What a chat function yields, read as OpenAI chat.completion.chunk objects, whether it yielded
// chunk objects, pre-framed `data: {...}\n\n` strings, or plain text. The reader keeps what the
// stream said so far, so the same reading serves a stream (chunks passed on as they come) and a
// call without streaming (the chunks assembled into one chat.completion).
import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type CompletionUsage,
  estimateUsage,
  type FinishReason,
  type ToolCall,
} from '../openai.ts';
import { isSseFrame } from '../worker/sse-frame.ts';

export type JsonObject = Record<string, unknown>;

export const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What chunks that do not say their own id, creation time or model are given. */
export interface ChunkDefaults {
  id: string;
  created: number;
  model: string;
}

interface ToolCallSoFar {
  id: string;
  name: string;
  arguments: string;
}

interface ChoiceSoFar {
  role: string | undefined;
  content: string;
  finishReason: string | undefined;
  toolCalls: Map<number, ToolCallSoFar>;
}

export class ChatChunkReader {
  /** Set once the function sent `data: [DONE]`: whatever it yields afterwards is dropped. */
  done = false;
  /** The usage the function reported in a chunk of its own, last one wins. */
  private ownUsage: CompletionUsage | undefined;
  private readonly choices = new Map<number, ChoiceSoFar>();
  private sawFinish = false;
  private roleSent = false;
  /** id, created and model of the first chunk that carried them, for the assembled completion. */
  private first: Partial<ChunkDefaults> = {};

  constructor(
    private readonly defaults: ChunkDefaults,
    private readonly request: Partial<ChatCompletionRequest>,
  ) {}

  /** One yielded value → the chunks to pass on. Usage-only chunks are held back for the end. */
  read(value: unknown): JsonObject[] {
    if (this.done) return [];
    if (typeof value === 'string') {
      if (isSseFrame(value)) return this.readFrames(value);
      return value === '' ? [] : [this.textChunk(value)];
    }
    if (isJsonObject(value)) return this.readObject(value);
    if (value === null || value === undefined) return [];
    return [this.textChunk(String(value))];
  }

  /** The chunks that close a successful stream, before `[DONE]`: a finish when none came, then usage when asked for. */
  closing(includeUsage: boolean): JsonObject[] {
    const out: JsonObject[] = [];
    if (!this.sawFinish) out.push(this.chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    if (includeUsage) out.push(this.chunk([], { usage: this.usage() }));
    return out;
  }

  /** The function's own usage, else the estimate (see estimateUsage in src/openai.ts). */
  usage(): CompletionUsage {
    if (this.ownUsage) return this.ownUsage;
    const answer = [...this.choices.values()].map((c) => c.content).join('');
    return estimateUsage(this.request, answer);
  }

  /** Everything read so far as one chat.completion. */
  completion(): ChatCompletion {
    if (this.choices.size === 0) this.choice(0);
    const indices = [...this.choices.keys()].sort((a, b) => a - b);
    return {
      id: this.first.id ?? this.defaults.id,
      object: 'chat.completion',
      created: this.first.created ?? this.defaults.created,
      model: this.first.model ?? this.defaults.model,
      choices: indices.map((index) => {
        const so = this.choice(index);
        const toolCalls: ToolCall[] = [...so.toolCalls.entries()]
          .sort(([a], [b]) => a - b)
          .map(([, call]) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
        const message: ChatCompletion['choices'][number]['message'] = {
          role: so.role ?? 'assistant',
          content: so.content === '' && toolCalls.length > 0 ? null : so.content,
          refusal: null,
        };
        if (toolCalls.length > 0) message.tool_calls = toolCalls;
        const finish = (so.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop')) as FinishReason;
        return { index, message, finish_reason: finish, logprobs: null };
      }),
      usage: this.usage(),
    };
  }

  private readFrames(text: string): JsonObject[] {
    const out: JsonObject[] = [];
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
      if (data.length === 0) continue; // a comment, or an event with no data
      const payload = data.join('\n');
      if (payload.trim() === '[DONE]') {
        this.done = true;
        break;
      }
      out.push(...this.readObjectOrText(payload));
    }
    return out;
  }

  /** A frame's data is a JSON chunk, or else text to say. */
  private readObjectOrText(payload: string): JsonObject[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return [this.textChunk(payload)];
    }
    return isJsonObject(parsed) ? this.readObject(parsed) : [this.textChunk(payload)];
  }

  private readObject(value: JsonObject): JsonObject[] {
    // An error object the function sends itself goes on as it is: the client ends the stream there.
    if ('error' in value && !Array.isArray(value.choices)) return [value];
    const chunk: JsonObject = { ...value };
    if (typeof chunk.id !== 'string') chunk.id = this.defaults.id;
    if (typeof chunk.object !== 'string') chunk.object = 'chat.completion.chunk';
    if (typeof chunk.created !== 'number') chunk.created = this.defaults.created;
    if (typeof chunk.model !== 'string') chunk.model = this.defaults.model;
    this.first.id ??= chunk.id as string;
    this.first.created ??= chunk.created as number;
    this.first.model ??= chunk.model as string;

    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    if (isJsonObject(chunk.usage)) {
      this.ownUsage = chunk.usage as unknown as CompletionUsage;
      // Held back: the one usage chunk goes just before [DONE], and only when the caller asked.
      if (choices.length === 0) return [];
      delete chunk.usage;
    }
    chunk.choices = choices;
    for (const choice of choices) if (isJsonObject(choice)) this.record(choice);
    return [chunk];
  }

  private textChunk(text: string): JsonObject {
    const delta: JsonObject = this.roleSent ? { content: text } : { role: 'assistant', content: text };
    const choice = { index: 0, delta, finish_reason: null };
    this.record(choice);
    return this.chunk([choice]);
  }

  private chunk(choices: JsonObject[], extra: JsonObject = {}): JsonObject {
    const { id, created, model } = this.defaults;
    const chunk: Omit<ChatCompletionChunk, 'choices'> & JsonObject = { id, object: 'chat.completion.chunk', created, model };
    return { ...chunk, choices, ...extra };
  }

  private choice(index: number): ChoiceSoFar {
    let so = this.choices.get(index);
    if (!so) {
      so = { role: undefined, content: '', finishReason: undefined, toolCalls: new Map() };
      this.choices.set(index, so);
    }
    return so;
  }

  private record(choice: JsonObject): void {
    const so = this.choice(typeof choice.index === 'number' ? choice.index : 0);
    const delta = choice.delta;
    if (isJsonObject(delta)) {
      if (typeof delta.role === 'string') {
        so.role ??= delta.role;
        this.roleSent = true;
      }
      if (typeof delta.content === 'string') so.content += delta.content;
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) if (isJsonObject(call)) this.recordToolCall(so, call);
      }
    }
    if (typeof choice.finish_reason === 'string') {
      so.finishReason = choice.finish_reason;
      this.sawFinish = true;
    }
  }

  /** Tool calls stream in pieces: the id and name first, the arguments split over many deltas. */
  private recordToolCall(so: ChoiceSoFar, call: JsonObject): void {
    const index = typeof call.index === 'number' ? call.index : so.toolCalls.size;
    let entry = so.toolCalls.get(index);
    if (!entry) {
      entry = { id: '', name: '', arguments: '' };
      so.toolCalls.set(index, entry);
    }
    if (typeof call.id === 'string') entry.id = call.id;
    const fn = call.function;
    if (isJsonObject(fn)) {
      if (typeof fn.name === 'string') entry.name += fn.name;
      if (typeof fn.arguments === 'string') entry.arguments += fn.arguments;
    }
  }
}

/** A finished chat.completion as stream chunks, for a plain function called with `stream: true`. */
export function completionAsChunks(completion: ChatCompletion): JsonObject[] {
  const { id, created, model } = completion;
  return completion.choices.map((choice) => {
    const { role, content, tool_calls: toolCalls } = choice.message;
    const delta: JsonObject = { role, content };
    if (toolCalls) delta.tool_calls = toolCalls.map((call, index) => ({ index, ...call }));
    return {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: choice.index, delta, finish_reason: choice.finish_reason }],
    };
  });
}

export const sseData = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
export const SSE_DONE = 'data: [DONE]\n\n';
