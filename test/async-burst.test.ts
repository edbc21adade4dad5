// 1,000 async calls at once: every one is answered 202, and every one ends up in the store as a
// success with its own result.

import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { ASYNC_APP, getJson, getRun, PROJECT, runsPath, sleep, type TempDir, tempDataDir } from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

const BURST = 1000;

let server: TestServer;
let dataDir: TempDir;
// Many sockets at once, as a burst of clients would open.
const client = new Agent({ connections: 128 });

beforeAll(async () => {
  dataDir = tempDataDir();
  server = await startTestServer([ASYNC_APP], { dataDir: dataDir.path });
});

afterAll(async () => {
  await server?.close();
  await client.close();
  dataDir?.remove();
});

it(`accounts for all of ${BURST} async calls made in a burst`, async () => {
  const answers = await Promise.all(
    Array.from({ length: BURST }, async (_, i) => {
      const res = await undiciFetch(`${server.url}/v4/${PROJECT}/async/echo?async=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
        dispatcher: client,
      });
      const body = (await res.json()) as { run_id: string };
      return { status: res.status, runId: body.run_id, i };
    }),
  );
  expect(answers.filter((a) => a.status !== 202)).toEqual([]);
  const expected = new Map(answers.map((a) => [a.runId, a.i]));
  expect(expected.size).toBe(BURST);

  let items: ApiRun[] = [];
  const deadline = Date.now() + 20_000;
  do {
    await sleep(100);
    items = await allAsyncRuns();
  } while (items.some((run) => run.status !== 'success') && Date.now() < deadline);

  expect(items).toHaveLength(BURST);
  expect(items.filter((run) => run.status !== 'success')).toEqual([]);
  // List pages carry no results: each run's own GET has it.
  for (let i = 0; i < items.length; i += 50) {
    const runs = await Promise.all(items.slice(i, i + 50).map((item) => getRun(server.url, 'async', item.id)));
    for (const run of runs) expect(run.result).toEqual({ echo: { i: expected.get(run.id) } });
  }
});

/** Every async run of the app, a page (at most 100) at a time. */
async function allAsyncRuns(): Promise<ApiRun[]> {
  const items: ApiRun[] = [];
  let token: string | null = null;
  do {
    const query: string = `asyncOnly=true&limit=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`;
    const { body } = await getJson<{ items: ApiRun[]; nextToken: string | null }>(`${server.url}${runsPath('async')}?${query}`);
    items.push(...body.items);
    token = body.nextToken;
  } while (token !== null);
  return items;
}
