// The chat/completions route, driven by the official OpenAI SDK over a real socket, plus the raw
// stream where the SDK would hide what the route wrote.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('openai-app')]);
});

afterAll(async () => {
  await server?.close();
});

/** An SDK client whose base URL is one function, as Cerebrium's docs configure it. No retries: each call runs once. */
const client = (fn: string) => new OpenAI({ baseURL: `${server.url}/v4/p-test/oai/${fn}`, apiKey: 'not-checked', maxRetries: 0 });

const ask = (content: string): OpenAI.Chat.ChatCompletionMessageParam[] => [
  { role: 'system', content: 'You are an echo.' },
  { role: 'user', content },
];

const PROMPT = 'Hello,  wörld —\nsplit  me exactly!';

/** The raw SSE text of a chat call, for what the SDK does not show (frames, [DONE]). */
async function rawStream(fn: string, body: Record<string, unknown>): Promise<{ res: Response; data: string[] }> {
  const res = await server.post(`/v4/p-test/oai/${fn}/chat/completions`, { messages: ask(PROMPT), stream: true, ...body });
  const text = await res.text();
  const data = text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
  return { res, data };
}

describe('chat/completions without streaming', () => {
  it('answers the chat.completion object itself, assembled from a generator’s chunks', async () => {
    const completion = await client('echo').chat.completions.create({ model: 'echo-1', messages: ask(PROMPT) });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('echo-1');
    expect(completion.id).toMatch(/^chatcmpl-[0-9a-f-]{36}$/);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: `You said: ${PROMPT}` });
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('plain strings yielded become the message text', async () => {
    const completion = await client('text_pieces').chat.completions.create({ model: 'm', messages: ask(PROMPT) });
    expect(completion.choices[0].message.content).toBe(PROMPT);
  });

  it('a plain function’s string becomes a completion; a completion it built keeps its own usage', async () => {
    const text = await client('plain_text').chat.completions.create({ model: 'm', messages: ask('hi') });
    expect(text.choices[0].message.content).toBe('plain: hi');
    expect(text.choices[0].finish_reason).toBe('stop');

    const whole = await client('whole').chat.completions.create({ model: 'w', messages: ask('hi') });
    expect(whole.choices[0].message.content).toBe('whole: hi');
    expect(whole.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    expect(whole.model).toBe('w');
  });

  it('tool-call deltas are joined into the message’s tool_calls', async () => {
    const completion = await client('tool_call').chat.completions.create({ model: 'm', messages: ask('weather?') });
    expect(completion.choices[0].finish_reason).toBe('tool_calls');
    expect(completion.choices[0].message.content).toBeNull();
    expect(completion.choices[0].message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ]);
  });

  it('pre-framed chunks are parsed back, and nothing after the function’s [DONE] counts', async () => {
    const completion = await client('framed').chat.completions.create({ model: 'm', messages: ask('x') });
    expect(completion.id).toBe('chatcmpl-framed');
    expect(completion.model).toBe('framed-model');
    expect(completion.choices[0].message.content).toBe('pre-framed');
    expect(completion.usage).toEqual({ prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 });
  });
});

describe('chat/completions streaming', () => {
  it('streams chat.completion.chunk objects whose text reassembles exactly', async () => {
    const stream = await client('echo').chat.completions.create({ model: 'echo-1', messages: ask(PROMPT), stream: true });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'echo-1')).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(`You said: ${PROMPT}`);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('plain strings are wrapped as chunks, a finish is added, and the stream ends with [DONE]', async () => {
    const { res, data } = await rawStream('text_pieces', {});
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as OpenAI.Chat.ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(PROMPT);
    expect(chunks.at(-1)!.choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
  });

  it('with include_usage, exactly one usage chunk with choices: [] comes just before [DONE]', async () => {
    const stream = await client('echo').chat.completions.create({
      model: 'echo-1',
      messages: ask(PROMPT),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const withUsage = chunks.filter((c) => c.usage);
    expect(withUsage).toHaveLength(1);
    expect(chunks.at(-1)).toBe(withUsage[0]);
    expect(withUsage[0].choices).toEqual([]);
    const usage = withUsage[0].usage!;
    // The counting the README describes: runs of letters/digits and single other marks.
    // "You said: Hello,  wörld —\nsplit  me exactly!" → You said : Hello , wörld — split me exactly ! = 11
    expect(usage.completion_tokens).toBe(11);
    // "You are an echo." (You are an echo . = 5) + the prompt (Hello , wörld — split me exactly ! = 8)
    expect(usage.prompt_tokens).toBe(13);
    expect(usage.total_tokens).toBe(24);
  });

  it('the function’s own usage chunk is the one sent, once, before the [DONE] it sent itself', async () => {
    const { data } = await rawStream('framed', { stream_options: { include_usage: true } });
    expect(data.filter((d) => d === '[DONE]')).toHaveLength(1);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as OpenAI.Chat.ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('pre-framed');
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } });
  });

  it('without include_usage the function’s usage chunk is left out', async () => {
    const { data } = await rawStream('framed', {});
    expect(data.some((d) => d.includes('"usage"'))).toBe(false);
    expect(data.at(-1)).toBe('[DONE]');
  });

  it('a plain function asked to stream answers its completion as chunks', async () => {
    const stream = await client('plain_text').chat.completions.create({
      model: 'm',
      messages: ask('hi'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('plain: hi');
    expect(chunks.at(-1)!.usage).toBeTruthy();
  });
});

describe('chat/completions callers that leave', () => {
  it('a streaming caller that aborts mid-stream stops the generator (its finally runs) and the replica serves on', async () => {
    const finished = async () => ((await (await server.post('/v4/p-test/oai/endless_finished')).json()) as { result: number }).result;
    const before = await finished();
    const stream = await client('endless_chat').chat.completions.create({ model: 'm', messages: ask('go on forever'), stream: true });
    let received = 0;
    // Leaving the loop early makes the SDK abort its request: the server sees the client go.
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received += 1;
      if (received === 3) break;
    }
    expect(received).toBe(3);
    const deadline = Date.now() + 5_000;
    while ((await finished()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await finished()).toBe(before + 1);
    const answer = await client('echo').chat.completions.create({ model: 'm', messages: ask('still here?') });
    expect(answer.choices[0].message.content).toBe('You said: still here?');
  });
});

describe('chat/completions errors', () => {
  it('a function’s exception is the SDK’s APIError: 500 with the message, in OpenAI’s envelope', async () => {
    const err = await client('broken')
      .chat.completions.create({ model: 'm', messages: ask('x') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    const apiError = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(500);
    expect(apiError.message).toBe('500 the model is on fire');
    expect(apiError.error).toEqual({ message: 'the model is on fire', type: 'server_error', param: null, code: 'function_exception' });
    expect(apiError.requestID).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a body the function’s schema rejects is a 400 naming the param, and the function does not run', async () => {
    const err = await client('strict')
      .chat.completions.create({ model: 'm', messages: ask('x'), temperature: 1.5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const apiError = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(400);
    expect(apiError.param).toBe('temperature');
    expect(apiError.type).toBe('invalid_request_error');
    expect(apiError.code).toBe('invalid_params');
    expect(apiError.message).toMatch(/^400 Invalid parameters: temperature/);

    const ok = await client('strict').chat.completions.create({ model: 'm', messages: ask('x'), temperature: 0.5 });
    expect(ok.choices[0].message.content).toBe('ok at temperature 0.5');
  });

  it('an unknown function is a 404 NotFoundError in the same envelope', async () => {
    const err = await client('nope')
      .chat.completions.create({ model: 'm', messages: ask('x') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('function_not_found');
  });

  it('an error after chunks were sent is a final data: {"error"} frame, which the SDK throws', async () => {
    const { data } = await rawStream('breaks_midway', {});
    expect(data).toHaveLength(3);
    expect(JSON.parse(data[2])).toEqual({
      error: { message: 'lost the thread after two chunks', type: 'server_error', param: null, code: 'function_exception' },
    });

    const stream = await client('breaks_midway').chat.completions.create({ model: 'm', messages: ask('x'), stream: true });
    const texts: string[] = [];
    const err = await (async () => {
      for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(texts.join('')).toBe('first second ');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toBe('lost the thread after two chunks');
  });

  it('a generator that throws before its first chunk answers a stream holding only the error frame', async () => {
    const res = await server.post('/v4/p-test/oai/broken/chat/completions', { messages: ask('x'), stream: true });
    // The stream begins once the function has started, so the error comes as its one frame, and no [DONE].
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toBe(
      `data: ${JSON.stringify({ error: { message: 'the model is on fire', type: 'server_error', param: null, code: 'function_exception' } })}\n\n`,
    );
  });

  it('a body that is not JSON is a 400 in OpenAI’s envelope', async () => {
    const res = await server.post('/v4/p-test/oai/echo/chat/completions', '{"messages": [');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null, code: 'invalid_json' } });
  });

  it('the /v4 invoke route keeps its own envelope', async () => {
    const res = await server.post('/v4/p-test/oai/broken', {});
    expect(res.status).toBe(500);
    const body = (await res.json()) as { run_id: string; error: Record<string, unknown> };
    expect(body.run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.error).toMatchObject({ type: 'function_error', code: 'function_exception' });
  });
});

describe('chat/completions with ?async=true', () => {
  it('answers 202 {run_id} as /v4 does, and the run is kept in the runs API', async () => {
    const res = await server.post('/v4/p-test/oai/echo/chat/completions?async=true', { messages: ask('later') });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };
    expect(res.headers.get('x-request-id')).toBe(runId);
    let status = '';
    for (let i = 0; i < 100 && status !== 'success'; i++) {
      const run = await fetch(`${server.url}/v2/projects/p-test/apps/p-test-oai/runs/${runId}`);
      status = ((await run.json()) as { item: { status: string } }).item.status;
      if (status !== 'success') await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('success');
  });
});
