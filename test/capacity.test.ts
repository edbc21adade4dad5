// Replicas, queueing, cold starts, timeouts and crashes, over a real socket, against
// test/fixtures/capacity-app (max_replicas = 2, replica_concurrency = 1, response_grace_period = 5 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('capacity-app')], { logLevel: 'info', abortGraceMs: 300, maxQueue: 1 });
});

afterAll(async () => {
  await server?.close();
});

type Json = Record<string, unknown>;
const call = async (fn: string, body: Json = {}) => {
  const res = await server.post(`/v4/p-test/capacity/${fn}`, body);
  return { res, body: (await res.json()) as Json };
};

/** The run log's line for a run id: it carries queue_ms and status. */
const logLine = (runId: unknown) => server.logs().find((line) => line.run_id === runId && 'queue_ms' in line);

const replicas = async () =>
  ((await (await fetch(`${server.url}/ready`)).json()) as { apps: { capacity: { replicas: number } } }).apps.capacity.replicas;

async function untilReplicas(want: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await replicas()) !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await replicas()).toBe(want);
}

describe('capacity', () => {
  it('three concurrent slow calls run two at a time and the third waits its turn', async () => {
    await Promise.all([call('ok'), call('ok')]); // both replicas up, so start-up is not what is measured
    const calls = await Promise.all([call('slow', { ms: 400 }), call('slow', { ms: 400 }), call('slow', { ms: 400 })]);
    for (const { res } of calls) expect(res.status).toBe(200);
    const starts = calls.map(({ body }) => (body.result as { startedAt: number }).startedAt).sort((a, b) => a - b);
    // The third began only when one of the first two had finished (400 ms later).
    expect(starts[1] - starts[0]).toBeLessThan(300);
    expect(starts[2] - starts[0]).toBeGreaterThanOrEqual(350);
    const queued = calls.map(({ body }) => logLine(body.run_id)?.queue_ms as number).sort((a, b) => a - b);
    expect(queued[2]).toBeGreaterThanOrEqual(300);
  });

  it('past the queue limit the answer is 429 with Retry-After, and nothing hangs', async () => {
    // Two replicas busy, one run waiting (--max-queue 1): the fourth is refused at once.
    const busy = [call('slow', { ms: 600 }), call('slow', { ms: 600 })];
    await new Promise((r) => setTimeout(r, 100));
    const waiting = call('slow', { ms: 10 });
    await new Promise((r) => setTimeout(r, 50));
    const { res, body } = await call('ok');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((body.error as Json).code).toBe('queue_full');
    for (const done of await Promise.all([...busy, waiting])) expect(done.res.status).toBe(200);
  });

  it('a call after the cooldown pays a cold start, seen in its queue time', async () => {
    await call('ok');
    const warm = await call('ok');
    await untilReplicas(0); // cooldown = 1 s, min_replicas = 0
    const cold = await call('ok');
    expect(cold.res.status).toBe(200);
    const warmQueue = logLine(warm.body.run_id)?.queue_ms as number;
    const coldQueue = logLine(cold.body.run_id)?.queue_ms as number;
    // A new thread has to start and import the app before the function can run.
    expect(coldQueue).toBeGreaterThan(warmQueue);
    expect(coldQueue).toBeGreaterThan(20);
  });
});

describe('--max-queue-bytes', () => {
  it('turns a call away with 429 once the runs waiting hold the byte budget, and counts bytes only while they wait', async () => {
    // Room for two waiting runs of about 1 KB each, but not three (and --max-queue is no limit here).
    const bounded = await startTestServer([fixture('capacity-app')], { maxQueue: 1000, maxQueueBytes: 2_500 });
    const padded = (ms: number) => ({ ms, pad: 'x'.repeat(1_000) });
    const post = async (body: Json) => {
      const res = await bounded.post('/v4/p-test/capacity/slow', body);
      return { res, body: (await res.json()) as Json };
    };
    try {
      // Both slots busy: what follows waits, holding its body's bytes.
      const busy = [post(padded(800)), post(padded(800))];
      await new Promise((r) => setTimeout(r, 300));
      const waiting = [post(padded(10)), post(padded(10))];
      await new Promise((r) => setTimeout(r, 100));
      const refused = await post(padded(10));
      expect(refused.res.status).toBe(429);
      expect(refused.res.headers.get('retry-after')).toBe('1');
      expect((refused.body.error as Json).code).toBe('queue_full');
      expect((refused.body.error as Json).message).toMatch(/bytes/);
      // A small call still fits beside them, and every run admitted finishes.
      const small = post({ ms: 10 });
      for (const done of await Promise.all([...busy, ...waiting, small])) expect(done.res.status).toBe(200);
      // Nothing waits any more, so the budget is whole again.
      expect((await post(padded(10))).res.status).toBe(200);
    } finally {
      await bounded.close();
    }
  });
});

describe('timeouts', () => {
  it('a function that ignores the abort gets 504 at response_grace_period, its replica is replaced, and the next call succeeds', async () => {
    const { res, body } = await call('spins');
    expect(res.status).toBe(504);
    expect(body.run_id).toBeDefined();
    expect(body.error).toMatchObject({ type: 'timeout_error', code: 'response_grace_period_exceeded' });
    expect((body.error as Json).message).toMatch(/response_grace_period \(5 s\)/);
    // Capacity comes back: both slots serve again.
    const after = await Promise.all([call('slow', { ms: 50 }), call('slow', { ms: 50 })]);
    for (const { res: r } of after) expect(r.status).toBe(200);
  });

  it('a function that honours ctx.signal is stopped by the timeout without losing its replica', async () => {
    const { res } = await call('waitsPolitely');
    expect(res.status).toBe(504);
    expect((await call('ok')).res.status).toBe(200);
  });
});

describe('replicas that die', () => {
  const expectCrash = async (fn: string) => {
    const other = call('slow', { ms: 300 });
    await new Promise((r) => setTimeout(r, 50));
    const { res, body } = await call(fn);
    expect(res.status).toBe(500);
    expect(body.error).toMatchObject({ code: 'replica_crashed' });
    expect((body.error as Json).message).toMatch(/replica .* crashed/);
    // The run on the other replica is not touched, and a new replica serves the next call.
    expect((await other).res.status).toBe(200);
    expect((await call('ok')).res.status).toBe(200);
  };

  it('process.exit in a function fails only its own run', () => expectCrash('exits'));
  it('an error thrown from a timer fails only its own run', () => expectCrash('throwsLater'));
  it('running out of the memory set in [cerebrium.hardware] fails only its own run', () => expectCrash('eatsMemory'));
});
