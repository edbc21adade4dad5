// The run store under a real server: a full disk (a real SQLite "database or disk is full", from
// max_page_count) refuses async calls with 503 and turns /ready to 503 until it frees; bodies too
// deep are refused, bodies are stored as received; list pages are small and carry no results;
// results past --max-stored-result-bytes are stored cut and flagged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { ASYNC_APP, getJson, getRun, PROJECT, pollRun, runsPath, sleep, type TempDir, tempDataDir } from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;
let dataDir: TempDir;

beforeAll(async () => {
  dataDir = tempDataDir();
  server = await startTestServer([ASYNC_APP], { dataDir: dataDir.path, maxStoredResultBytes: 64 });
});

afterAll(async () => {
  await server?.close();
  dataDir?.remove();
});

const echoRuns = async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const lines = text.split('\n').filter((line) => line.startsWith('cerebrium_local_runs_total{') && line.includes('function="echo"'));
  return lines.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
};

/** 20 kB of params: a record that needs new pages, which a full store has not got. */
const bigBody = () => ({ blob: 'x'.repeat(20_000) });

describe('a run store that cannot write', () => {
  it('answers async calls 503 store_unavailable and starts no run, /ready names the store, and all recovers once the disk frees', async () => {
    const store = server.running.runStore;
    const before = await echoRuns();
    store.setMaxPageCount(1);
    try {
      const refused = await server.post(`/v4/${PROJECT}/async/echo?async=true`, bigBody());
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: 'store_unavailable', type: 'unavailable_error' });
      expect(body.error.message).toContain('database or disk is full');

      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      const readyBody = (await ready.json()) as { status: string; store: { location: string; error: string } };
      expect(readyBody.status).toBe('store_unavailable');
      expect(readyBody.store.location).toBe(store.location);
      expect(readyBody.store.error).toMatch(/database or disk is full/);

      // A sync run still answers; its record waits for the store.
      const sync = await server.post(`/v4/${PROJECT}/async/echo`, bigBody());
      expect(sync.status).toBe(200);
      await sleep(200);
      // The refused async run never ran: only the sync one finished.
      expect(await echoRuns()).toBe(before + 1);

      store.setMaxPageCount(1_000_000);
      await expect.poll(async () => (await fetch(`${server.url}/ready`)).status, { timeout: 5_000 }).toBe(200);
      const kept = await getRun(server.url, 'async', sync.headers.get('x-request-id') ?? '');
      expect(kept).toMatchObject({ status: 'success', statusCode: 200 });
      const page = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath('async')}?asyncOnly=true`);
      expect(page.body.items).toEqual([]);
    } finally {
      store.setMaxPageCount(1_000_000);
    }
  });
});

describe('bodies', () => {
  const nested = (depth: number) => `${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}`;

  it('refuses a body nested deeper than --max-json-depth with 400 json_too_deep naming the limit', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/echo`, `{"a":${nested(5_000)}}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('json_too_deep');
    expect(body.error.message).toContain('512');
  });

  it('takes a body nested exactly to the limit, and one with brackets inside its strings', async () => {
    expect((await server.post(`/v4/${PROJECT}/async/echo`, `{"a":${nested(512)}}`)).status).toBe(200);
    const brackets = JSON.stringify({ text: '['.repeat(2_000), quote: 'say \\"[[[' });
    expect((await server.post(`/v4/${PROJECT}/async/echo`, brackets)).status).toBe(200);
  });

  it('stores the params as the body was received', async () => {
    const text = '{ "b": 1,\n  "a": [1.0, 2e3] }';
    const res = await server.post(`/v4/${PROJECT}/async/echo`, text);
    expect(res.status).toBe(200);
    const stored = await server.running.runStore.get(res.headers.get('x-request-id') ?? '');
    expect(stored?.paramsJson).toBe(text);
  });

  it('stores an empty body as {}', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/echo`, '');
    expect(res.status).toBe(200);
    expect((await server.running.runStore.get(res.headers.get('x-request-id') ?? ''))?.paramsJson).toBe('{}');
  });
});

describe('the runs API', () => {
  it('lists at most 100 runs a page, without results, while GET of one run has its result', async () => {
    const res = await server.post(`/v4/${PROJECT}/async/echo?async=true`, { n: 1 });
    const runId = ((await res.json()) as { run_id: string }).run_id;
    const run = await pollRun(server.url, 'async', runId);
    expect(run.result).toEqual({ echo: { n: 1 } });

    const page = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath('async')}?asyncOnly=true&limit=100`);
    expect(page.status).toBe(200);
    const listed = page.body.items.find((item) => item.id === runId);
    expect(listed).toMatchObject({ id: runId, status: 'success', resultTruncated: false });
    expect(listed).not.toHaveProperty('result');
    const tooMany = await getJson<{ error: { code: string; message: string } }>(`${server.url}${runsPath('async')}?limit=101`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ code: 'invalid_limit', message: expect.stringContaining('100') });
  });

  it("filters a page by status and by function when asked (the dashboard's filters), and refuses an unknown status", async () => {
    const ok = await server.post(`/v4/${PROJECT}/async/echo`, { n: 2 });
    const failed = await server.post(`/v4/${PROJECT}/async/explode`, {});
    expect([ok.status, failed.status]).toEqual([200, 500]);
    const failedId = failed.headers.get('x-request-id');
    await pollRun(server.url, 'async', failedId ?? '');

    const failures = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath('async')}?status=failure`);
    expect(failures.body.items.map((item) => item.id)).toContain(failedId);
    expect(failures.body.items.every((item) => item.status === 'failure')).toBe(true);
    const echoes = await getJson<{ items: ApiRun[] }>(`${server.url}${runsPath('async')}?functionName=echo&status=success`);
    expect(echoes.body.items.map((item) => item.id)).toContain(ok.headers.get('x-request-id'));
    expect(echoes.body.items.every((item) => item.functionName === 'echo' && item.status === 'success')).toBe(true);

    const bad = await getJson<{ error: { code: string; message: string } }>(`${server.url}${runsPath('async')}?status=done`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_run_filter', message: expect.stringContaining('"done"') });
  });

  it('stores a result larger than --max-stored-result-bytes cut and flagged, while the caller gets all of it', async () => {
    const params = { text: 'é'.repeat(100) };
    const res = await server.post(`/v4/${PROJECT}/async/echo`, params);
    expect(((await res.json()) as { result: unknown }).result).toEqual({ echo: params });

    const run = await getRun(server.url, 'async', res.headers.get('x-request-id') ?? '');
    expect(run.resultTruncated).toBe(true);
    expect(typeof run.result).toBe('string');
    const stored = run.result as string;
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(64);
    expect(JSON.stringify({ echo: params }).startsWith(stored)).toBe(true);
  });
});
