// A replica due to be replaced (its function ignored the abort after a 504) takes no new run, and a
// run handed to it that had not started is run on the replica that takes its place, never failed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('stuck-app')], { abortGraceMs: 100 });
  await warm();
});

afterAll(async () => {
  await server?.close();
});

type Json = Record<string, unknown>;
const call = async (fn: string, body: Json = {}) => {
  const res = await server.post(`/v4/p-test/stuck/${fn}`, body);
  return { res, body: (await res.json()) as Json };
};
const threadOf = (body: Json) => (body.result as { threadId: number }).threadId;

/** Calls ok until a replica answers: a cold start on a busy machine may outlast the 3 s grace period. */
async function warm(): Promise<number> {
  for (let tries = 0; ; tries += 1) {
    const { res, body } = await call('ok');
    if (res.status === 200 || tries === 5) return threadOf(body);
  }
}

it('a call right after a 504 runs on a fresh replica instead of failing with replica_crashed', async () => {
  const first = await warm();
  const { res } = await call('spins');
  expect(res.status).toBe(504);
  const next = await call('ok');
  expect(next.res.status, JSON.stringify(next.body)).toBe(200);
  expect(threadOf(next.body)).not.toBe(first);
});

it('a call handed to a stuck replica before its 504 is requeued onto the new one', async () => {
  await warm();
  const stuck = call('spins');
  await new Promise((r) => setTimeout(r, 2_200));
  const waiting = call('ok');
  expect((await stuck).res.status).toBe(504);
  const next = await waiting;
  expect(next.res.status, JSON.stringify(next.body)).toBe(200);
});
