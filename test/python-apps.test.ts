// Python apps (an app folder with main.py): each replica is one python3 process running
// src/python/bridge.py, over real sockets, against test/fixtures/python-app and python-timeout-app.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { getRun, pollRun, runsPath, sleep, startReceiver } from './async-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

// The interpreter behind `python3`, found once: where python3 is a shim (pyenv), each process start
// through it costs far more than the interpreter itself, and these tests start many processes.
const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
const python = found.status === 0 ? found.stdout.trim() : undefined;
const hasPython3 = python !== undefined && python !== '';
if (!hasPython3) console.warn('python3 is not on PATH: the Python app tests in test/python-apps.test.ts are skipped');

const APP = 'py';
const SSE = { accept: 'text/event-stream' };

interface Envelope<T = unknown> {
  run_id: string;
  result: T;
  run_time_ms: number;
  error: { type: string; code: string; name?: string; message: string; params?: Array<{ key: string; problem: string }> };
}

let server: TestServer;
let scratch: string;

/** POST to a function of the Python fixture app, with its parsed body. */
async function call<T = unknown>(fn: string, body: unknown = {}, app = APP): Promise<{ res: Response; body: Envelope<T> }> {
  const res = await server.post(`/v4/p-test/${app}/${fn}`, body);
  return { res, body: (await res.json()) as Envelope<T> };
}

const currentPid = async () => {
  const { res, body } = await call<number>('pid');
  expect(res.status).toBe(200);
  return body.result;
};

/** A path in this file's temp folder for a function to write a marker into. */
let markers = 0;
const markerPath = () => join(scratch, `marker-${++markers}`);

async function until<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(20);
    value = await read();
  }
  return value;
}

const readMarker = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : null);
/** What a function wrote into the marker, once it has (null after 5 s). */
const markerWritten = (path: string) =>
  until(
    () => readMarker(path),
    (text) => text !== null,
  );

/** Opens a call with node:http and resolves with the response; `destroy` hangs up like a client leaving. */
function open(
  fn: string,
  body: unknown,
  headers: Record<string, string> = {},
): { response: Promise<IncomingMessage>; destroy: () => void } {
  const req = httpRequest(`${server.url}/v4/p-test/${APP}/${fn}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  response.catch(() => undefined);
  req.end(JSON.stringify(body));
  return { response, destroy: () => req.destroy() };
}

const callAsync = async (fn: string, body: unknown = {}, query = '') => {
  const res = await server.post(`/v4/p-test/${APP}/${fn}?async=true${query}`, body);
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
};

describe.skipIf(!hasPython3)('Python apps', () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'cerebrium-local-python-'));
    server = await startTestServer([fixture('python-app'), fixture('python-timeout-app')], {
      logLevel: 'info',
      abortGraceMs: 300,
      python,
      allowFaults: true,
    });
  });

  afterAll(async () => {
    await server?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe('which names are functions', () => {
    it('a module-level function answers the sync envelope with x-request-id equal to run_id', async () => {
      const { res, body } = await call('greet', { name: 'python' });
      expect(res.status).toBe(200);
      expect(Object.keys(body)).toEqual(['run_id', 'result', 'run_time_ms']);
      expect(res.headers.get('x-request-id')).toBe(body.run_id);
      expect(body.result).toEqual({ greeting: 'hello python!' });
    });

    const expect404 = async (fn: string, code: string) => {
      const { res, body } = await call(fn);
      expect(res.status).toBe(404);
      expect(body.error).toMatchObject({ type: 'not_found_error', code });
    };

    it('a name starting with _ is private', () => expect404('_helper', 'function_private'));
    it('an unknown name is not found', () => expect404('no_such_function', 'function_not_found'));
    it('a module-level value that is not callable is not a function', () => expect404('VERSION', 'not_a_function'));
  });

  describe('keyword arguments', () => {
    it("the body's keys are the keyword arguments, and defaults fill the rest", async () => {
      expect((await call('greet', { name: 'kw', punctuation: '?' })).body.result).toEqual({ greeting: 'hello kw?' });
      expect((await call('greet', { name: 'kw' })).body.result).toEqual({ greeting: 'hello kw!' });
    });

    it('a missing required argument and an unexpected key are a 422 naming each, not a run that fails', async () => {
      const { res, body } = await call('records_call', { marker: markerPath(), surplus: 1 });
      expect(res.status).toBe(422);
      expect(body.error.code).toBe('invalid_params');
      expect(body.error.params?.map((p) => p.key).sort()).toEqual(['count', 'surplus']);
      expect(body.error.params?.find((p) => p.key === 'count')?.problem).toMatch(/required/);
    });

    it('a call refused with 422 never runs the function', async () => {
      const marker = markerPath();
      const { res, body } = await call('records_call', { marker, count: 'many' });
      expect(res.status).toBe(422);
      expect(body.error.params?.map((p) => p.key)).toEqual(['count']);
      await sleep(100);
      expect(existsSync(marker)).toBe(false);
      // The same call with a good count does run it.
      expect((await call('records_call', { marker, count: 2 })).res.status).toBe(200);
      expect(readMarker(marker)).toBe('ran');
    });

    it('**kwargs takes any other key', async () => {
      const { res, body } = await call('takes_anything', { name: 'n', a: 1, b: [2] });
      expect(res.status).toBe(200);
      expect(body.result).toEqual({ name: 'n', extra: { a: 1, b: [2] } });
    });

    it('values that match int, float, str, bool, list, dict and Optional hints are passed through', async () => {
      const args = { count: 2, ratio: 0.5, label: 'x', flag: true, items: [1, 'a'], meta: { k: 'v' }, note: null };
      const { res, body } = await call('typed', args);
      expect(res.status).toBe(200);
      expect(body.result).toEqual(args);
      expect((await call('typed', { ...args, ratio: 3, note: 'a note' })).body.result).toMatchObject({ ratio: 3, note: 'a note' });
    });

    it('values of the wrong type for their hints are a 422 naming each key', async () => {
      const { res, body } = await call('typed', {
        count: 'two',
        ratio: 'half',
        label: 7,
        flag: 'yes',
        items: { not: 'a list' },
        meta: [1],
        note: 5,
      });
      expect(res.status).toBe(422);
      expect(body.error.code).toBe('invalid_params');
      const keys = new Set(body.error.params?.map((p) => p.key));
      expect([...keys].sort()).toEqual(['count', 'flag', 'items', 'label', 'meta', 'note', 'ratio']);
    });

    it('a parameter named run_id receives the run id, which is the x-request-id', async () => {
      const { res, body } = await call<string>('reports_run_id');
      expect(res.status).toBe(200);
      expect(body.result).toBe(res.headers.get('x-request-id'));
      expect(body.result).toBe(body.run_id);
    });
  });

  describe('sync and async functions', () => {
    it('a def function runs', async () => {
      expect((await call('add', { a: 2, b: 3 })).body.result).toBe(5);
    });

    it('an async def function is awaited, and its run time includes the await', async () => {
      const { res, body } = await call('add_later', { a: 2, b: 3, seconds: 0.1 });
      expect(res.status).toBe(200);
      expect(body.result).toBe(5);
      expect(body.run_time_ms).toBeGreaterThanOrEqual(90);
    });
  });

  describe('results', () => {
    it.each([
      ['returns_dict', { a: 1, nested: { b: [2, 3] } }],
      ['returns_list', [1, 'two', null, { three: 3 }]],
      ['returns_number', 3.5],
      ['returns_text', 'plain text'],
      ['returns_flag', true],
      ['returns_nothing', null],
      ['returns_dataclass', { x: 1, y: 2 }],
      ['returns_bytes', Buffer.from('\x00\x01hello', 'latin1').toString('base64')],
    ])('%s answers its value as JSON', async (fn, expected) => {
      const { res, body } = await call(fn);
      expect(res.status).toBe(200);
      expect(body.result).toEqual(expected);
    });

    it('a value JSON cannot hold is a 500 result_not_serialisable that names its type', async () => {
      const { res, body } = await call('returns_opaque');
      expect(res.status).toBe(500);
      expect(body.error.code).toBe('result_not_serialisable');
      expect(body.error.message).toContain('_Opaque');
    });

    it('a dict with a numeric status_code sets the HTTP status', async () => {
      const { res, body } = await call('created');
      expect(res.status).toBe(201);
      expect(body.result).toEqual({ status_code: 201, id: 'thing-1' });
    });

    it('a status_code outside 200–599 is a 500 invalid_status_code, not an answer that never comes', async () => {
      const { res, body } = await call('with_status', { code: 101 });
      expect(res.status).toBe(500);
      expect(body.error.code).toBe('invalid_status_code');
    });
  });

  describe('exceptions and crashes', () => {
    it('an exception is a 500 function_exception with the class name and message', async () => {
      const { res, body } = await call('explodes');
      expect(res.status).toBe(500);
      expect(res.headers.get('x-request-id')).toBe(body.run_id);
      expect(body.error).toMatchObject({
        type: 'function_error',
        code: 'function_exception',
        name: 'ValueError',
        message: 'the dial only goes to ten',
      });
    });

    it('an exception in an async function is one too, and the process keeps serving', async () => {
      const before = await currentPid();
      const { res, body } = await call('explodes_later');
      expect(res.status).toBe(500);
      expect(body.error).toMatchObject({ code: 'function_exception', name: 'RuntimeError', message: 'async failure' });
      expect(await currentPid()).toBe(before);
    });

    it('a process that exits fails its run with replica_crashed, and the next call succeeds on a new process', async () => {
      const before = await currentPid();
      const { res, body } = await call('exits');
      expect(res.status).toBe(500);
      expect(body.error.code).toBe('replica_crashed');
      const after = await call<number>('pid');
      expect(after.res.status).toBe(200);
      expect(after.body.result).not.toBe(before);
    });

    it('a warm replica (min_replicas) that dies is started again without waiting for a call', async () => {
      await call('exits');
      const replicas = async () =>
        ((await (await fetch(`${server.url}/ready`)).json()) as { apps: Record<string, { replicas: number }> }).apps[APP].replicas;
      expect(await until(replicas, (n) => n === 1)).toBe(1);
    });

    it('a call that arrives while a new process imports main.py waits for it, and that wait is its queue time', async () => {
      await call('exits');
      const sent = Date.now();
      const { res, body } = await call<number>('imported_at');
      expect(res.status).toBe(200);
      // main.py was imported again, by a process started for this call (the import takes 0.3 s).
      expect(body.result * 1000).toBeGreaterThan(sent);
      expect((await getRun(server.url, APP, body.run_id)).queueTimeMs).toBeGreaterThanOrEqual(250);
    });
  });

  describe('generators', () => {
    it('str chunks stream as one data frame each with Accept: text/event-stream', async () => {
      const res = await server.post(`/v4/p-test/${APP}/words`, { count: 3 }, SSE);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(await res.text()).toBe('data: Number 0 \n\ndata: Number 1 \n\ndata: Number 2 \n\n');
    });

    it('an async generator streams the same way', async () => {
      const res = await server.post(`/v4/p-test/${APP}/async_words`, { count: 2 }, SSE);
      expect(await res.text()).toBe('data: Async 0 \n\ndata: Async 1 \n\n');
    });

    it('a dict chunk is one data frame of JSON', async () => {
      const res = await server.post(`/v4/p-test/${APP}/objects`, {}, SSE);
      const text = await res.text();
      expect(text.endsWith('\n\n')).toBe(true);
      const frames = text.split('\n\n').filter(Boolean);
      expect(frames.every((f) => f.startsWith('data: ') && !f.includes('\n'))).toBe(true);
      expect(frames.map((f) => JSON.parse(f.slice('data: '.length)) as unknown)).toEqual([
        { token: 'a', index: 0 },
        { token: 'b', index: 1 },
      ]);
    });

    it('pre-framed chunks pass through untouched', async () => {
      const res = await server.post(`/v4/p-test/${APP}/preframed`, {}, SSE);
      expect(await res.text()).toBe('data: {"already":"framed"}\n\ndata: [DONE]\n\n');
    });

    it('without Accept: text/event-stream, str chunks are joined into one result', async () => {
      const { res, body } = await call('words', { count: 3 });
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(body.result).toBe('Number 0 Number 1 Number 2 ');
      expect((await call('async_words', { count: 2 })).body.result).toBe('Async 0 Async 1 ');
    });
  });

  describe('concurrency', () => {
    it('replica_concurrency > 1 runs async calls at the same time in one process', async () => {
      const [a, b] = await Promise.all([
        call<{ started: number; ended: number; pid: number }>('sleeps_async', { seconds: 0.5 }),
        call<{ started: number; ended: number; pid: number }>('sleeps_async', { seconds: 0.5 }),
      ]);
      expect(a.res.status).toBe(200);
      expect(b.res.status).toBe(200);
      expect(a.body.result.pid).toBe(b.body.result.pid);
      // Each started before the other ended: they overlapped.
      expect(Math.max(a.body.result.started, b.body.result.started)).toBeLessThan(Math.min(a.body.result.ended, b.body.result.ended));
    });
  });

  describe('cancel and timeouts', () => {
    it('a client that disconnects cancels an async function with asyncio.CancelledError', async () => {
      const marker = markerPath();
      const { destroy } = open('waits_for_cancel', { marker });
      await sleep(300);
      destroy();
      expect(await markerWritten(marker)).toBe('cancelled');
    });

    it("a client that leaves a stream runs the async generator's finally", async () => {
      const marker = markerPath();
      const { response, destroy } = open('ticks_until_closed', { marker }, SSE);
      const res = await response;
      await new Promise<void>((resolve) => res.once('data', () => resolve()));
      expect(readMarker(marker)).toBeNull();
      destroy();
      expect(await markerWritten(marker)).toBe('closed');
    });

    it('a runs-API cancel reaches an async function as CancelledError, and its process stays', async () => {
      const before = await currentPid();
      const marker = markerPath();
      const runId = await callAsync('waits_for_cancel', { marker });
      await pollRun(server.url, APP, runId, (run) => run.status === 'running');
      const res = await fetch(`${server.url}${runsPath(APP)}/${runId}/cancel`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { item: ApiRun }).item.status).toBe('cancelled');
      expect(await markerWritten(marker)).toBe('cancelled');
      await sleep(500); // past --abort-grace-ms (300): a process that had ignored the cancel would be gone by now
      expect(await currentPid()).toBe(before);
    });

    it('a sync function that ignores the cancel has its process replaced after the abort grace, and the next call works', async () => {
      const before = await currentPid();
      const runId = await callAsync('sleeps_ignoring_cancel', { seconds: 10 });
      await pollRun(server.url, APP, runId, (run) => run.status === 'running');
      const res = await fetch(`${server.url}${runsPath(APP)}/${runId}/cancel`, { method: 'POST' });
      expect(res.status).toBe(200);
      await sleep(800); // --abort-grace-ms is 300
      const started = Date.now();
      const after = await call<number>('pid');
      expect(after.res.status).toBe(200);
      expect(after.body.result).not.toBe(before);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('a run past response_grace_period is a 504 response_grace_period_exceeded', async () => {
      const started = Date.now();
      const { res, body } = await call('sleeps', { seconds: 10 }, 'py-timeout');
      expect(res.status).toBe(504);
      expect(body.run_id).toBeDefined();
      expect(body.error).toMatchObject({ type: 'timeout_error', code: 'response_grace_period_exceeded' });
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });

  describe('logs and environment', () => {
    it('print() and logging.info reach the server log tagged with the run id and app', async () => {
      const { res, body } = await call('prints_and_logs', { word: 'kumquat' });
      expect(res.status).toBe(200);
      const linesOf = () => server.logs().filter((line) => line.run_id === body.run_id);
      const has = (text: string) => (lines: Array<Record<string, unknown>>) => lines.some((l) => JSON.stringify(l).includes(text));
      const printed = await until(linesOf, has('printed kumquat'), 3_000);
      expect(printed.find((l) => JSON.stringify(l).includes('printed kumquat'))).toMatchObject({ app: APP });
      const logged = await until(linesOf, has('logged kumquat'), 3_000);
      expect(logged.find((l) => JSON.stringify(l).includes('logged kumquat'))).toMatchObject({ app: APP });
    });

    it(".env values, APP_NAME and PROJECT_ID are in os.environ (the server's names win over .env)", async () => {
      const { body } = await call('environment');
      expect(body.result).toEqual({ SECRET_WORD: 'swordfish', APP_NAME: APP, PROJECT_ID: 'p-test' });
    });
  });

  describe('injected cold start', () => {
    it('runs a call with x-cerebrium-local-fault: cold in a process started for it, leaving the warm one in place', async () => {
      const warm = await currentPid();
      const res = await server.post(`/v4/p-test/${APP}/pid`, {}, { 'x-cerebrium-local-fault': 'cold' });
      expect(res.status).toBe(200);
      const cold = ((await res.json()) as Envelope<number>).result;
      expect(cold).not.toBe(warm);
      expect(await currentPid()).toBe(warm);
    });
  });

  describe('async calls', () => {
    it('?async=true answers 202, the webhook gets the result, and the runs API reads it back', async () => {
      const hook = await startReceiver();
      try {
        const runId = await callAsync('add_later', { a: 20, b: 22 }, `&webhookEndpoint=${encodeURIComponent(hook.url)}`);
        const [delivery] = await hook.waitFor(1);
        expect(delivery.headers['x-request-id']).toBe(runId);
        expect(JSON.parse(delivery.body)).toMatchObject({ run_id: runId, result: 42 });
        const run = await getRun(server.url, APP, runId);
        expect(run).toMatchObject({ id: runId, functionName: 'add_later', async: true, status: 'success', statusCode: 200, result: 42 });
      } finally {
        await hook.close();
      }
    });
  });

  describe('OpenAI chat route', () => {
    const client = () => new OpenAI({ baseURL: `${server.url}/v4/p-test/${APP}/echo_chat`, apiKey: 'not-checked', maxRetries: 0 });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are an echo.' },
      { role: 'user', content: 'hello from node' },
    ];

    it('streams the chunks an async generator yields', async () => {
      const stream = await client().chat.completions.create({ model: 'py-echo', messages, stream: true });
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'py-echo')).toBe(true);
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('You said: hello from node');
      expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
    });

    it('assembles the chunks into one chat.completion without stream', async () => {
      const completion = await client().chat.completions.create({ model: 'py-echo', messages });
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe('py-echo');
      expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: 'You said: hello from node' });
      expect(completion.choices[0].finish_reason).toBe('stop');
    });
  });
});
