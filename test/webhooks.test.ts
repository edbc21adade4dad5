// ?webhookEndpoint=: delivery of a run's outcome to a receiver on loopback, signing, and retries.

import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ASYNC_APP,
  closedPort,
  PROJECT,
  pollRun,
  sleep,
  startReceiver,
  type TempDir,
  tempDataDir,
  type WebhookReceiver,
} from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

const RETRY_DELAY_MS = 50;
const TIMEOUT_MS = 300;

let server: TestServer;
let dataDir: TempDir;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  dataDir = tempDataDir();
  server = await startTestServer([ASYNC_APP], {
    dataDir: dataDir.path,
    webhookRetryDelayMs: RETRY_DELAY_MS,
    webhookTimeoutMs: TIMEOUT_MS,
  });
});

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await server?.close();
  dataDir?.remove();
});

const receiver = async (answer?: (n: number) => number | null) => {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
};

const call = (fn: string, webhook: string, opts: { async?: boolean; body?: unknown; headers?: Record<string, string> } = {}) =>
  server.post(
    `/v4/${PROJECT}/async/${fn}?${opts.async ? 'async=true&' : ''}webhookEndpoint=${encodeURIComponent(webhook)}`,
    opts.body ?? {},
    opts.headers,
  );

/** Waits until the store shows `n` attempts for the run. */
const attemptsOf = (runId: string, n: number) =>
  pollRun(server.url, 'async', runId, (run) => (run.webhookAttempts?.length ?? 0) >= n).then((run) => run.webhookAttempts ?? []);

describe('delivery', () => {
  it('POSTs an async run its result envelope, signed as the reference says, when X-Webhook-Secret is sent', async () => {
    const hook = await receiver();
    const secret = 'whsec_test_123';
    const res = await call('sleepy', hook.url, { async: true, body: { ms: 20 }, headers: { 'x-webhook-secret': secret } });
    expect(res.status).toBe(202);
    const { run_id: runId } = (await res.json()) as { run_id: string };

    const [delivery] = await hook.waitFor(1);
    expect(delivery.headers['content-type']).toMatch(/^application\/json/);
    expect(delivery.headers['x-request-id']).toBe(runId);
    const body = JSON.parse(delivery.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['run_id', 'result', 'run_time_ms']);
    expect(body).toMatchObject({ run_id: runId, result: { slept: 20 } });

    const timestamp = delivery.headers['x-cerebrium-webhook-timestamp'] as string;
    expect(timestamp).toMatch(/^\d+$/);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(30);
    const expected = createHmac('sha256', secret).update(`${runId}.${timestamp}.${delivery.body}`).digest('hex');
    expect(delivery.headers['x-cerebrium-webhook-signature']).toBe(`v1,${expected}`);

    const attempts = await attemptsOf(runId, 1);
    expect(attempts).toMatchObject([{ attempt: 1, statusCode: 200, error: null }]);
    expect((await pollRun(server.url, 'async', runId)).webhookEndpoint).toBe(hook.url);
  });

  it('sends no signature without a secret', async () => {
    const hook = await receiver();
    await call('echo', hook.url, { async: true });
    const [delivery] = await hook.waitFor(1);
    expect(delivery.headers['x-cerebrium-webhook-signature']).toBeUndefined();
    expect(delivery.headers['x-cerebrium-webhook-timestamp']).toBeUndefined();
  });

  it('sends a sync call the same body its caller got, without delaying that caller', async () => {
    // The receiver holds every request open, so a webhook in the caller's path would stall it.
    // Were the caller waiting on delivery, it would be answered only after all 3 attempts had timed out.
    const hook = await receiver(() => null);
    const res = await call('echo', hook.url, { body: { x: 1 } });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(hook.received.length).toBeLessThan(3);
    const [delivery] = await hook.waitFor(1);
    expect(delivery.body).toBe(text);
  });

  it('sends the error body when the run failed', async () => {
    const hook = await receiver();
    const res = await call('explode', hook.url, { async: true });
    const { run_id: runId } = (await res.json()) as { run_id: string };
    const [delivery] = await hook.waitFor(1);
    const body = JSON.parse(delivery.body) as { run_id: string; error: Record<string, unknown> };
    expect(body.run_id).toBe(runId);
    expect(body.error).toMatchObject({ type: 'function_error', code: 'function_exception', message: 'the flux capacitor is empty' });
  });

  it('refuses a webhookEndpoint that is not an http(s) URL with 400, before any run', async () => {
    for (const bad of ['ftp://example.com/hook', 'javascript:alert(1)', 'not a url', '']) {
      const res = await server.post(`/v4/${PROJECT}/async/echo?webhookEndpoint=${encodeURIComponent(bad)}`, {});
      expect(res.status, bad).toBe(400);
      const body = (await res.json()) as { run_id?: string; error: { code: string } };
      expect(body.error.code).toBe('invalid_webhook_endpoint');
      expect(body.run_id).toBeUndefined();
    }
  });
});

describe('retries', () => {
  it('retries a 404, up to 3 attempts in all, a delay apart', async () => {
    const hook = await receiver((n) => (n < 3 ? 404 : 200));
    const { run_id: runId } = (await (await call('echo', hook.url, { async: true })).json()) as { run_id: string };
    const deliveries = await hook.waitFor(3);
    expect(deliveries[1].at - deliveries[0].at).toBeGreaterThanOrEqual(RETRY_DELAY_MS - 5);
    expect(new Set(deliveries.map((d) => d.body)).size).toBe(1);
    const attempts = await attemptsOf(runId, 3);
    expect(attempts.map((a) => a.statusCode)).toEqual([404, 404, 200]);
  });

  it('gives up after 3 attempts at a closed port, recording each network error', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/hook`;
    const { run_id: runId } = (await (await call('echo', url, { async: true })).json()) as { run_id: string };
    const attempts = await attemptsOf(runId, 3);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    for (const a of attempts) {
      expect(a.statusCode).toBeNull();
      expect(a.error).toMatch(/ECONNREFUSED/);
    }
    await sleep(RETRY_DELAY_MS * 4);
    expect(await attemptsOf(runId, 3)).toHaveLength(3);
  });

  it('retries a receiver that does not answer in time', async () => {
    const hook = await receiver((n) => (n === 1 ? null : 200));
    const { run_id: runId } = (await (await call('echo', hook.url, { async: true })).json()) as { run_id: string };
    await hook.waitFor(2);
    const attempts = await attemptsOf(runId, 2);
    expect(attempts[0]).toMatchObject({ statusCode: null, error: `timed out after ${TIMEOUT_MS} ms` });
    expect(attempts[1]).toMatchObject({ statusCode: 200, error: null });
  });

  it('does not retry a 500', async () => {
    const hook = await receiver(() => 500);
    const { run_id: runId } = (await (await call('echo', hook.url, { async: true })).json()) as { run_id: string };
    await hook.waitFor(1);
    await sleep(RETRY_DELAY_MS * 4);
    expect(hook.received).toHaveLength(1);
    expect(await attemptsOf(runId, 1)).toMatchObject([{ attempt: 1, statusCode: 500 }]);
  });
});
