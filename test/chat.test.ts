// The demo app's `chat` function (functions/chat.ts) over a real server, driven by the official
// OpenAI SDK on the chat/completions route. Its model is the generated GPT-2 stand-in in
// models/chat.onnx (built on first use when missing): the text is gibberish, but deterministic when
// greedy, so streamed and whole answers, max_tokens, stop strings and usage can be checked exactly.

import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpeTokenizer } from '../src/models/bpe-tokenizer.ts';
import { chatPrompt } from '../src/models/text-generation.ts';
import { pollRun, runsPath } from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer([fileURLToPath(new URL('..', import.meta.url))]);
  client = new OpenAI({ baseURL: `${server.url}/v4/p-test/demo/chat`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

const MESSAGES: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Write a short poem about a fox.' },
];

type StreamParams = Omit<OpenAI.Chat.ChatCompletionCreateParamsStreaming, 'model' | 'messages' | 'stream'>;

async function streamed(params: StreamParams = {}) {
  const stream = await client.chat.completions.create({ model: 'gpt2', messages: MESSAGES, stream: true, ...params });
  const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  const finish = chunks.map((c) => c.choices[0]?.finish_reason).find((f) => f);
  return { chunks, text, finish, usage: chunks.find((c) => c.usage)?.usage };
}

const whole = (params: Omit<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, 'model' | 'messages'> = {}) =>
  client.chat.completions.create({ model: 'gpt2', messages: MESSAGES, ...params });

describe('chat (demo app, GPT-2 stand-in) through the OpenAI SDK', () => {
  it('streams a chunk per token whose text reassembles to the non-streamed greedy answer', async () => {
    const { chunks, text, finish } = await streamed({ temperature: 0, max_tokens: 24 });
    const completion = await whole({ temperature: 0, max_tokens: 24 });
    const content = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(content.length).toBeGreaterThan(12); // token by token, not one lump
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'gpt2')).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(text.length).toBeGreaterThan(20);
    expect(text).toBe(completion.choices[0].message.content);
    expect(finish).toBe(completion.choices[0].finish_reason);
  });

  it('stops at max_tokens with finish_reason "length" and completion_tokens = max_tokens', async () => {
    const completion = await whole({ temperature: 0, max_tokens: 9 });
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(completion.usage!.completion_tokens).toBe(9);

    const { finish, usage } = await streamed({ temperature: 0, max_tokens: 5, stream_options: { include_usage: true } });
    expect(finish).toBe('length');
    expect(usage!.completion_tokens).toBe(5);
  });

  it('stops at a stop string its greedy answer really contains, and sends none of it', async () => {
    const first = (await whole({ temperature: 0, max_tokens: 30 })).choices[0].message.content!;
    // A stop string from the middle of that answer: the answer must end right before it.
    const stop = first.slice(Math.floor(first.length / 2), Math.floor(first.length / 2) + 3);
    const expected = first.slice(0, first.indexOf(stop));
    expect(stop).toHaveLength(3);
    expect(expected.length).toBeGreaterThan(0);

    const completion = await whole({ temperature: 0, max_tokens: 30, stop: [stop] });
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.choices[0].message.content).toBe(expected);
    expect(completion.usage!.completion_tokens).toBeLessThan(30);

    const { text, finish } = await streamed({ temperature: 0, max_tokens: 30, stop });
    expect(finish).toBe('stop');
    expect(text).toBe(expected);
    expect(text).not.toContain(stop);
  });

  it('with include_usage, gives the tokenizer’s real counts in one usage chunk before [DONE]', async () => {
    const { chunks, usage } = await streamed({ temperature: 0, max_tokens: 6, stream_options: { include_usage: true } });
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(chunks.at(-1)!.usage).toBeTruthy();
    expect(chunks.at(-1)!.choices).toEqual([]);
    const prompt = BpeTokenizer.gpt2().encode(
      chatPrompt([
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Write a short poem about a fox.' },
      ]),
    ).length;
    // "System: You are a helpful assistant.\nUser: Write a short poem about a fox.\nAssistant:" in GPT-2's BPE:
    // System : ␣You ␣are ␣a ␣helpful ␣assistant . \n User : ␣Write ␣a ␣short ␣poem ␣about ␣a ␣fox . \n Assistant :
    expect(prompt).toBe(22);
    expect(usage).toEqual({ prompt_tokens: prompt, completion_tokens: 6, total_tokens: prompt + 6 });
  });

  it('samples with temperature and top_p, the same text for the same seed', async () => {
    const greedy = (await whole({ temperature: 0, max_tokens: 12 })).choices[0].message.content;
    const sampled = async (seed: number) => (await whole({ temperature: 1, top_p: 0.95, seed, max_tokens: 12 })).choices[0].message.content;
    const a = await sampled(11);
    expect(await sampled(11)).toBe(a);
    expect(a).not.toBe(greedy);
    expect(await sampled(12)).not.toBe(a);
  });

  it('ends generation between tokens when the run is cancelled (ctx.signal), long before it would have finished', async () => {
    // ~1000 sampled tokens (several seconds); the replica would be replaced after 5 s if the signal were ignored.
    const res = await server.post('/v4/p-test/demo/chat?async=true', { messages: MESSAGES, max_tokens: 1000, top_p: 0.9, seed: 5 });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    await pollRun(server.url, 'demo', runId, (run) => run.status === 'running');
    await new Promise((resolve) => setTimeout(resolve, 100)); // some tokens in
    const asked = performance.now();
    const cancel = await fetch(`${server.url}${runsPath('demo')}/${runId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const run = await pollRun(server.url, 'demo', runId);
    expect(performance.now() - asked).toBeLessThan(2_000);
    expect(run.status).toBe('cancelled');
    expect(run.error?.message ?? '').not.toMatch(/did not stop/);
  });

  it('refuses parameters OpenAI would refuse, naming them (400)', async () => {
    const err = await whole({ temperature: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('temperature');
  });
});
