// POST /v4/:projectId/:appName/:functionName over a real socket, against test/fixtures/basic-app.

import { request as rawRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('basic-app')], { bodyLimit: 64 * 1024 });
});

afterAll(async () => {
  await server?.close();
});

describe('sync invoke', () => {
  it('answers {run_id, result, run_time_ms} in that order with x-request-id equal to run_id', async () => {
    const res = await server.post('/v4/p-test/basic/plain', { name: 'cerebrium' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    const body = JSON.parse(text) as { run_id: string; result: unknown; run_time_ms: number };
    expect(Object.keys(body)).toEqual(['run_id', 'result', 'run_time_ms']);
    expect(body.run_id).toMatch(UUID);
    expect(res.headers.get('x-request-id')).toBe(body.run_id);
    expect(body.result).toEqual({ greeting: 'hello cerebrium' });
    expect(typeof body.run_time_ms).toBe('number');
    expect(body.run_time_ms).toBeGreaterThanOrEqual(0);
  });

  it('runs async functions and measures their own duration', async () => {
    const res = await server.post('/v4/p-test/basic/later', { ms: 40 });
    const body = (await res.json()) as { result: unknown; run_time_ms: number };
    expect(res.status).toBe(200);
    expect(body.result).toBe('done later');
    expect(body.run_time_ms).toBeGreaterThanOrEqual(35);
    expect(body.run_time_ms).toBeLessThan(5_000);
  });

  it("gives the function its params and a context, on a worker thread, with the app's .env", async () => {
    const res = await server.post('/v4/p-anything/basic/whoami', { a: 1, nested: { b: [2] } });
    const body = (await res.json()) as { run_id: string; result: Record<string, unknown> };
    expect(body.result).toMatchObject({
      params: { a: 1, nested: { b: [2] } },
      runId: body.run_id,
      projectId: 'p-anything',
      appName: 'basic',
      functionName: 'whoami',
      env: { APP_NAME: 'basic', PROJECT_ID: 'p-test', GREETING_SECRET: 'from-dotenv' },
      signalIsAbortSignal: true,
    });
    expect(body.result.threadId).not.toBe(0);
  });

  it('passes {} for an empty body, with or without a content-type', async () => {
    const withType = await server.post('/v4/p-test/basic/whoami');
    expect(((await withType.json()) as { result: { params: unknown } }).result.params).toEqual({});
    const bare = await fetch(`${server.url}/v4/p-test/basic/whoami`, { method: 'POST' });
    expect(bare.status).toBe(200);
    expect(((await bare.json()) as { result: { params: unknown } }).result.params).toEqual({});
  });

  it('reads a JSON body sent with curl -d defaults (form content-type)', async () => {
    const res = await server.post('/v4/p-test/basic/plain', '{"name":"curl"}', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: unknown }).result).toEqual({ greeting: 'hello curl' });
  });

  it('uses a result status_code as the HTTP status', async () => {
    const created = await server.post('/v4/p-test/basic/created', {});
    expect(created.status).toBe(201);
    expect(((await created.json()) as { result: unknown }).result).toEqual({ status_code: 201, id: 'thing-1' });
    const teapot = await server.post('/v4/p-test/basic/teapot', {});
    expect(teapot.status).toBe(418);
  });

  it('answers a status_code outside 200–599 with a 500 invalid_status_code instead of leaving the caller waiting', async () => {
    for (const code of [101, 100, 199, 600, 200.5]) {
      const res = await server.post('/v4/p-test/basic/withStatus', { code });
      expect(res.status, String(code)).toBe(500);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('invalid_status_code');
      expect(body.error.message).toContain(String(code));
    }
    // Not a number: not a status, so the answer is a plain 200.
    expect((await server.post('/v4/p-test/basic/withStatus', { code: '404' })).status).toBe(200);
    expect((await server.post('/v4/p-test/basic/withStatus', { code: 200 })).status).toBe(200);
  });

  it('answers null for a function that returns nothing', async () => {
    const res = await server.post('/v4/p-test/basic/nothing', {});
    expect(((await res.json()) as { result: unknown }).result).toBeNull();
  });
});

describe('function errors', () => {
  it('a throw is a 500 with the run id, the error name and message, and the stack outside production', async () => {
    const res = await server.post('/v4/p-test/basic/explode', {});
    expect(res.status).toBe(500);
    const body = (await res.json()) as { run_id: string; error: Record<string, string> };
    expect(body.run_id).toMatch(UUID);
    expect(res.headers.get('x-request-id')).toBe(body.run_id);
    expect(body.error).toMatchObject({
      type: 'function_error',
      code: 'function_exception',
      name: 'RangeError',
      message: 'the dial only goes to ten',
    });
    expect(body.error.stack).toContain('explode');
  });

  it('a rejected promise is a 500 too', async () => {
    const res = await server.post('/v4/p-test/basic/rejects', {});
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('async failure');
  });

  it('a BigInt result is a 500 that says the result cannot be encoded as JSON', async () => {
    const res = await server.post('/v4/p-test/basic/bigint', {});
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('result_not_serialisable');
    expect(body.error.message).toMatch(/cannot be encoded as JSON.*BigInt/i);
  });

  it('a circular result is a 500 that says the result cannot be encoded as JSON', async () => {
    const res = await server.post('/v4/p-test/basic/circular', {});
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('result_not_serialisable');
    expect(body.error.message).toMatch(/circular/i);
  });

  it('the replica keeps serving after user errors', async () => {
    await server.post('/v4/p-test/basic/explode', {});
    const res = await server.post('/v4/p-test/basic/plain', {});
    expect(res.status).toBe(200);
  });
});

describe('unknown and uncallable names', () => {
  const expect404 = async (path: string, code: string, mentions: RegExp) => {
    const res = await server.post(path, {});
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string; type: string } };
    expect(body.error.type).toBe('not_found_error');
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(mentions);
  };

  it('an unknown app names the apps served', () => expect404('/v4/p-test/nope/plain', 'app_not_found', /"nope".*basic/));
  it('an unknown function names the public functions', () =>
    expect404('/v4/p-test/basic/missing', 'function_not_found', /"missing".*plain/));
  it('a private function is not callable', () => expect404('/v4/p-test/basic/_secret', 'function_private', /_secret.*private/));
  it('a private name that does not exist is still reported as private', () =>
    expect404('/v4/p-test/basic/_nothing', 'function_private', /private/));
  it('an export that is not a function', () => expect404('/v4/p-test/basic/notAFunction', 'not_a_function', /not a function/));
  it('a string export is not a function either', () => expect404('/v4/p-test/basic/version', 'not_a_function', /main\.ts/));
  it('a method other than POST on a function is a 405 that says to POST', async () => {
    const res = await fetch(`${server.url}/v4/p-test/basic/plain`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(((await res.json()) as { error: { code: string; message: string } }).error.message).toMatch(/POST, not GET/);
  });
  it('an unknown route', async () => {
    const res = await fetch(`${server.url}/v9/whatever`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('route_not_found');
  });
});

describe('bad bodies', () => {
  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(10);
    return body;
  };

  it('a body that is not JSON is a 400', async () => {
    await expectError(await server.post('/v4/p-test/basic/plain', '{"name": '), 400, 'invalid_json');
  });

  it('a body that is JSON but not an object is a 400', async () => {
    for (const body of ['[1,2]', '"text"', '42', 'null']) {
      await expectError(await server.post('/v4/p-test/basic/plain', body), 400, 'body_not_object');
    }
  });

  it('a body over the limit is a 413', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(100 * 1024) });
    await expectError(await server.post('/v4/p-test/basic/plain', big), 413, 'body_too_large');
  });

  it('__proto__ and constructor.prototype keys never reach a prototype', async () => {
    await expectError(await server.post('/v4/p-test/basic/whoami', '{"__proto__": {"polluted": true}}'), 400, 'forbidden_key');
    await expectError(
      await server.post('/v4/p-test/basic/whoami', '{"constructor": {"prototype": {"polluted": true}}}'),
      400,
      'forbidden_key',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const res = await server.post('/v4/p-test/basic/whoami', { constructor: 'just a string key' });
    expect(((await res.json()) as { result: { prototypeClean: boolean } }).result.prototypeClean).toBe(true);
  });
});

describe('query parameters', () => {
  it('an async flag that is neither true nor false is a 400, not a sync call', async () => {
    const res = await server.post('/v4/p-test/basic/plain?async=maybe', {});
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_async');
  });
});

describe('declared parameters', () => {
  it('accepts a body that matches the schema', async () => {
    const res = await server.post('/v4/p-test/basic/typed', { prompt: 'hi', max_tokens: 3 });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: unknown }).result).toEqual({ prompt: 'hi', max_tokens: 3 });
  });

  it('names every missing, extra and wrongly typed key in a 422, and never runs the function', async () => {
    const res = await server.post('/v4/p-test/basic/typed', { max_tokens: 'many', temperature: 0.2 });
    expect(res.status).toBe(422);
    expect(res.headers.get('x-request-id')).toBeNull();
    const body = (await res.json()) as { run_id?: string; error: { code: string; params: Array<{ key: string }> } };
    expect(body.run_id).toBeUndefined();
    expect(body.error.code).toBe('invalid_params');
    expect(body.error.params.map((p) => p.key).sort()).toEqual(['max_tokens', 'prompt', 'temperature']);
  });
});

describe('callers that leave', () => {
  it('a caller that disconnects aborts ctx.signal and the replica keeps serving', async () => {
    await new Promise<void>((resolve) => {
      const req = rawRequest(`${server.url}/v4/p-test/basic/waitForAbort`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('error', () => resolve());
      req.end('{}');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    let aborted: string[] = [];
    for (let i = 0; i < 50 && aborted.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      const res = await server.post('/v4/p-test/basic/abortedSoFar', {});
      aborted = ((await res.json()) as { result: string[] }).result;
    }
    expect(aborted).toHaveLength(1);
  });
});

describe('health', () => {
  it('/health and /ready answer 200 once loaded', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { apps: Record<string, unknown> }).apps.basic).toMatchObject({ queued: 0 });
  });
});
