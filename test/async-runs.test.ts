// ?async=true and the runs API, over a real socket, against test/fixtures/async-app.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { ASYNC_APP, getJson, getRun, NARROW_APP, PROJECT, pollRun, runsPath, type TempDir, tempDataDir } from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server: TestServer;
let dataDir: TempDir;

beforeAll(async () => {
  dataDir = tempDataDir();
  server = await startTestServer([ASYNC_APP, NARROW_APP], { dataDir: dataDir.path });
});

afterAll(async () => {
  await server?.close();
  dataDir?.remove();
});

const callAsync = async (fn: string, body: unknown = {}, app = 'async') => {
  const res = await server.post(`/v4/${PROJECT}/${app}/${fn}?async=true`, body);
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
};

const cancel = (app: string, runId: string) => fetch(`${server.url}${runsPath(app)}/${runId}/cancel`, { method: 'POST' });

describe('async calls', () => {
  it('answer 202 with exactly {run_id} and x-request-id, and the run is already in the store', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/sleepy?async=true`, { ms: 300 });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['run_id']);
    expect(body.run_id).toMatch(UUID);
    expect(res.headers.get('x-request-id')).toBe(body.run_id);
    expect(existsSync(join(dataDir.path, 'runs.sqlite'))).toBe(true);

    const run = await getRun(server.url, 'async', body.run_id as string);
    expect(run).toMatchObject({ id: body.run_id, functionName: 'sleepy', async: true, method: 'POST', region: 'local' });
    expect(['pending', 'running']).toContain(run.status);
    expect(run.completedAt).toBeNull();
  });

  it('go on in the background until success, with the result, times and status code', async () => {
    const runId = await callAsync('sleepy', { ms: 50 });
    const run = await pollRun(server.url, 'async', runId);
    expect(run).toMatchObject({ status: 'success', statusCode: 200, result: { slept: 50 }, error: null, async: true });
    expect(run.runtimeMs).toBeGreaterThanOrEqual(45);
    expect(run.queueTimeMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(run.completedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(run.createdAt));
  });

  it('keep a status_code the function chose', async () => {
    const run = await pollRun(server.url, 'async', await callAsync('created'));
    expect(run).toMatchObject({ status: 'success', statusCode: 201, result: { status_code: 201, id: 'made' } });
  });

  it('end in failure with the error a sync caller would get', async () => {
    const run = await pollRun(server.url, 'async', await callAsync('explode'));
    expect(run.status).toBe('failure');
    expect(run.statusCode).toBe(500);
    expect(run.result).toBeNull();
    expect(run.error).toMatchObject({
      type: 'function_error',
      code: 'function_exception',
      name: 'TypeError',
      message: 'the flux capacitor is empty',
    });
  });

  it('are refused before a run exists when the call is bad', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/nope?async=true`, {});
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('function_not_found');
  });
});

describe('cancel', () => {
  it('stops a running run through ctx.signal and marks it cancelled', async () => {
    const runId = await callAsync('untilCancelled');
    await pollRun(server.url, 'async', runId, (run) => run.status === 'running');
    const res = await cancel('async', runId);
    expect(res.status).toBe(200);
    const { item } = (await res.json()) as { item: ApiRun };
    expect(item.status).toBe('cancelled');
    expect(item.error).toMatchObject({ code: 'run_cancelled' });
    expect(item.error?.message).toMatch(/runs API/);
    expect((await getRun(server.url, 'async', runId)).status).toBe('cancelled');
  });

  it('takes a run out of the queue before it starts', async () => {
    const first = await callAsync('hold', { ms: 400 }, 'narrow');
    const second = await callAsync('hold', { ms: 10 }, 'narrow');
    await pollRun(server.url, 'narrow', first, (run) => run.status === 'running');
    expect((await getRun(server.url, 'narrow', second)).status).toBe('pending');

    const { item } = (await (await cancel('narrow', second)).json()) as { item: ApiRun };
    expect(item.status).toBe('cancelled');
    expect(item.runtimeMs).toBeNull();
    expect((await pollRun(server.url, 'narrow', first)).status).toBe('success');
  });

  it('a finished run cannot be cancelled (409), an unknown one is 404', async () => {
    const runId = await callAsync('echo');
    await pollRun(server.url, 'async', runId);
    const finished = await cancel('async', runId);
    expect(finished.status).toBe(409);
    expect(((await finished.json()) as { error: { code: string } }).error.code).toBe('run_finished');
    expect((await cancel('async', '00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('runs API', () => {
  it('records sync calls as well, with async false', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/echo`, { n: 1 });
    expect(res.status).toBe(200);
    const runId = res.headers.get('x-request-id') ?? '';
    const run = await getRun(server.url, 'async', runId);
    expect(run).toMatchObject({ status: 'success', async: false, result: { echo: { n: 1 } }, webhookEndpoint: null });
  });

  it('404s an unknown run, a run of another app, and an appId not of the form {projectId}-{appName}', async () => {
    const runId = await callAsync('echo');
    const missing = await getJson<{ error: { code: string } }>(`${server.url}${runsPath('async')}/not-a-run`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('run_not_found');
    expect((await getJson(`${server.url}${runsPath('narrow')}/${runId}`)).status).toBe(404);
    const badApp = await getJson<{ error: { code: string } }>(`${server.url}/v2/projects/${PROJECT}/apps/async/runs/${runId}`);
    expect(badApp.status).toBe(404);
    expect(badApp.body.error.code).toBe('app_not_found');
  });

  it('lists runs newest first, page by page with nextToken, async only when asked', async () => {
    // A fresh app name keeps this list to the runs made here.
    const sync = await server.post(`/v4/${PROJECT}/narrow/hold`, { ms: 1 });
    expect(sync.status).toBe(200);
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) made.push(await callAsync('hold', { ms: 1 }, 'narrow'));
    for (const id of made) await pollRun(server.url, 'narrow', id);

    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const query: string = `asyncOnly=true&limit=2${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`;
      const { status, body } = await getJson<{ items: ApiRun[]; nextToken: string | null }>(`${server.url}${runsPath('narrow')}?${query}`);
      expect(status).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(2);
      expect(body.items.every((run) => run.async)).toBe(true);
      seen.push(...body.items.map((run) => run.id));
      token = body.nextToken;
      pages += 1;
    } while (token !== null && pages < 20);

    // Earlier tests left async runs on "narrow" too; the five made here are the newest, in reverse order.
    expect(seen.slice(0, 5)).toEqual([...made].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain(sync.headers.get('x-request-id'));

    const all = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath('narrow')}?limit=100`);
    expect(all.body.items.map((run) => run.id)).toContain(sync.headers.get('x-request-id'));
    expect(all.body.items.length).toBe(seen.length + 1);
  });

  it('refuses a bad limit or nextToken with 400', async () => {
    expect((await getJson(`${server.url}${runsPath('async')}?limit=0`)).status).toBe(400);
    expect((await getJson(`${server.url}${runsPath('async')}?limit=abc`)).status).toBe(400);
    expect((await getJson(`${server.url}${runsPath('async')}?limit=101`)).status).toBe(400);
    const bad = await getJson<{ error: { code: string } }>(`${server.url}${runsPath('async')}?nextToken=zzz`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_next_token');
  });
});
