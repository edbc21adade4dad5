// Fault injection per call: the x-cerebrium-local-fault header on a real server with --allow-faults,
// each directive seen from a real client over a real socket, and the header ignored without it.
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/http/runs-routes.ts';
import { getRun, pollRun, sleep, startReceiver, type WebhookReceiver } from './async-support.ts';
import { readToEnd } from './helpers/read-to-end.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const FAULTY = fixture('faults-app');
const PROJECT = 'p-test';
const FAULT = 'x-cerebrium-local-fault';
const call = (fn: string) => `/v4/${PROJECT}/faulty/${fn}`;

let server: TestServer;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  server = await startTestServer([FAULTY], { allowFaults: true, logLevel: 'info', webhookRetryDelayMs: 50 });
  // The warm replica imports the app on its first run: done here, so no test pays that as "cold".
  await server.post(call('whoami'), {});
});

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await server?.close();
});

const withFault = (fn: string, fault: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  server.post(call(fn), body, { [FAULT]: fault, ...headers });

/** Every run of the app, newest first (a list page has no results). */
async function runs(): Promise<ApiRun[]> {
  const res = await fetch(`${server.url}/v2/projects/${PROJECT}/apps/${PROJECT}-faulty/runs`);
  return ((await res.json()) as { items: ApiRun[] }).items;
}

/** The app's replica starts, as cerebrium_local_replica_starts_total shows them. */
async function replicaStarts(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/cerebrium_local_replica_starts_total\{app="faulty"\} (\d+)/.exec(text)?.[1]);
}

const dataEvents = (text: string) => text.split('\n\n').filter((frame) => frame.startsWith('data:'));

describe('status=CODE', () => {
  const expected = [
    { status: 429, code: 'queue_full', type: 'unavailable_error' },
    { status: 500, code: 'internal_error', type: 'server_error' },
    { status: 502, code: 'bad_gateway', type: 'server_error' },
    { status: 503, code: 'service_unavailable', type: 'unavailable_error' },
    { status: 504, code: 'response_grace_period_exceeded', type: 'timeout_error' },
  ];

  for (const { status, code, type } of expected) {
    it(`answers ${status} with the catalogued ${code} envelope, and records the run as failed by the fault`, async () => {
      const res = await withFault('echo', `status=${status}`, { a: 1 });
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const body = (await res.json()) as { run_id: string; error: Record<string, unknown> };
      expect(Object.keys(body)).toEqual(['run_id', 'error']);
      expect(body.error).toMatchObject({ type, code });
      expect(String(body.error.message)).toContain('Injected fault (status=');
      expect(res.headers.get('x-request-id')).toBe(body.run_id);
      expect(res.headers.get('retry-after')).toBe(status === 429 ? '1' : null);

      const run = await pollRun(server.url, 'faulty', body.run_id);
      expect(run).toMatchObject({ status: 'failure', statusCode: status, fault: `status=${status}` });
      expect(run.error).toMatchObject({ code });
    });
  }

  it('answers an async call with the status itself instead of its 202', async () => {
    const res = await server.post(`${call('echo')}?async=true`, {}, { [FAULT]: 'status=503' });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { run_id: string; error: { code: string } };
    expect(body.error.code).toBe('service_unavailable');
    expect(await getRun(server.url, 'faulty', body.run_id)).toMatchObject({ async: true, status: 'failure', fault: 'status=503' });
  });

  it('answers a stream call with the JSON error, before any event', async () => {
    const res = await withFault('count', 'status=502', {}, { accept: 'text/event-stream' });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_gateway');
  });
});

describe('latency=DURATION', () => {
  it('waits that long before the function runs, and the run says so in its queue time', async () => {
    const started = Date.now();
    const res = await withFault('echo', 'latency=300ms', { n: 1 });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { run_id: string; result: unknown };
    expect(body.result).toEqual({ echo: { n: 1 } });
    expect(elapsed).toBeGreaterThanOrEqual(300);
    const run = await pollRun(server.url, 'faulty', body.run_id);
    expect(run.queueTimeMs).toBeGreaterThanOrEqual(290);
    expect(run.fault).toBe('latency=300ms');
  });
});

describe('cold', () => {
  it('runs the call on a replica started for it, which imports the app anew, and leaves the warm one in place', async () => {
    const warm = (await (await server.post(call('whoami'), {})).json()) as { result: { replica: string } };
    const startsBefore = await replicaStarts();

    const started = Date.now();
    const res = await withFault('whoami', 'cold');
    const elapsed = Date.now() - started;
    const cold = (await res.json()) as { run_id: string; result: { replica: string } };
    expect(res.status).toBe(200);
    expect(cold.result.replica).not.toBe(warm.result.replica);
    // The fixture takes 300 ms to import: a cold start pays it, as on a new replica.
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect((await pollRun(server.url, 'faulty', cold.run_id)).fault).toBe('cold');
    // The thread started for it is counted as a replica start, as the dashboard's cold starts show.
    expect(await replicaStarts()).toBe(startsBefore + 1);

    const after = (await (await server.post(call('whoami'), {})).json()) as { result: { replica: string } };
    expect(after.result.replica).toBe(warm.result.replica);
  });
});

describe('drop-after=N', () => {
  it('sends exactly N events, then closes the connection with no final event', async () => {
    const res = await withFault('count', 'drop-after=2', { n: 5 }, { accept: 'text/event-stream' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const runId = res.headers.get('x-request-id') as string;
    const { text, cut } = await readToEnd(res);
    expect(dataEvents(text)).toEqual(['data: event 0', 'data: event 1']);
    expect(cut).toBe(true);
    expect(text).not.toContain('event: error');
    // The caller is gone, so the run is cancelled, and its record names the fault.
    expect(await pollRun(server.url, 'faulty', runId)).toMatchObject({ status: 'cancelled', fault: 'drop-after=2' });
  });

  it('cuts a stream at once with drop-after=0, after its headers', async () => {
    const res = await withFault('count', 'drop-after=0', { n: 3 }, { accept: 'text/event-stream' });
    expect(res.status).toBe(200);
    const { text, cut } = await readToEnd(res);
    expect(dataEvents(text)).toEqual([]);
    expect(cut).toBe(true);
  });

  it('leaves a stream alone that ends before N events', async () => {
    const res = await withFault('count', 'drop-after=10', { n: 3 }, { accept: 'text/event-stream' });
    const { text, cut } = await readToEnd(res);
    expect(dataEvents(text)).toHaveLength(3);
    expect(cut).toBe(false);
  });
});

/** A POST over a raw socket: how it ended (an answer, or a reset before any byte). */
function rawPost(path: string, headers: Record<string, string>): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end('{"x":1}');
  });
}

describe('reset', () => {
  it('destroys the connection without an answer, after the function has run', async () => {
    const outcome = await rawPost(call('echo'), { [FAULT]: 'reset' });
    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toBe('ECONNRESET');
    const run = (await runs()).find((r) => r.fault === 'reset');
    expect(run).toMatchObject({ status: 'success', functionName: 'echo' });
  });

  it('resets an async call instead of its 202, though its run goes on', async () => {
    const outcome = await rawPost(`${call('echo')}?async=true`, { [FAULT]: 'reset' });
    expect(outcome.error).toBe('ECONNRESET');
    const run = (await runs()).find((r) => r.fault === 'reset' && r.async);
    expect(run).toBeDefined();
    expect((await pollRun(server.url, 'faulty', run?.id as string)).status).toBe('success');
  });

  it('resets a stream call before any event', async () => {
    const outcome = await rawPost(call('count'), { [FAULT]: 'reset', accept: 'text/event-stream' });
    expect(outcome.error).toBe('ECONNRESET');
  });
});

describe('webhook=', () => {
  const asyncWithHook = (hook: WebhookReceiver, fault: string) =>
    server.post(`${call('echo')}?async=true&webhookEndpoint=${encodeURIComponent(hook.url)}`, { w: 1 }, { [FAULT]: fault });

  it('drop: the run succeeds and no webhook ever comes', async () => {
    const hook = await startReceiver();
    receivers.push(hook);
    const res = await asyncWithHook(hook, 'webhook=drop');
    expect(res.status).toBe(202);
    const { run_id } = (await res.json()) as { run_id: string };
    const run = await pollRun(server.url, 'faulty', run_id);
    expect(run).toMatchObject({ status: 'success', fault: 'webhook=drop' });
    await sleep(300);
    expect(hook.received).toHaveLength(0);
  });

  it('status=CODE: the webhook reports the run as failed with that status', async () => {
    const hook = await startReceiver();
    receivers.push(hook);
    const res = await asyncWithHook(hook, 'webhook=status=500');
    const { run_id } = (await res.json()) as { run_id: string };
    const [delivery] = await hook.waitFor(1);
    const body = JSON.parse(delivery.body) as { run_id: string; error: { code: string; type: string } };
    expect(body.run_id).toBe(run_id);
    expect(body.error).toMatchObject({ code: 'internal_error', type: 'server_error' });
    expect(delivery.headers['x-request-id']).toBe(run_id);
    // The run itself succeeded; only its webhook was made to say otherwise.
    expect(await pollRun(server.url, 'faulty', run_id)).toMatchObject({ status: 'success', fault: 'webhook=status=500' });
  });

  it('delay=DURATION: the webhook comes that long after the run ended', async () => {
    const hook = await startReceiver();
    receivers.push(hook);
    const res = await asyncWithHook(hook, 'webhook=delay=500ms');
    const { run_id } = (await res.json()) as { run_id: string };
    const run = await pollRun(server.url, 'faulty', run_id);
    const [delivery] = await hook.waitFor(1, 5_000);
    expect(delivery.at - Date.parse(run.completedAt as string)).toBeGreaterThanOrEqual(490);
    expect(JSON.parse(delivery.body)).toMatchObject({ run_id, result: { echo: { w: 1 } } });
  });
});

describe('what marks an injected fault', () => {
  it('puts the fault in the run log line and counts it in /metrics by app, function and kind', async () => {
    const res = await withFault('echo', 'status=503;latency=10ms');
    const { run_id } = (await res.json()) as { run_id: string };
    await pollRun(server.url, 'faulty', run_id);
    const line = server.logs().find((l) => l.run_id === run_id);
    expect(line).toMatchObject({ fault: 'status=503;latency=10ms', msg: 'run failed by an injected fault' });

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/cerebrium_local_faults_total\{app="faulty",function="echo",kind="status"\} \d+/);
    expect(metrics).toMatch(/cerebrium_local_faults_total\{app="faulty",function="echo",kind="latency"\} \d+/);
  });

  it('records null as the fault of a run left alone', async () => {
    const { run_id } = (await (await server.post(call('echo'), {})).json()) as { run_id: string };
    expect((await pollRun(server.url, 'faulty', run_id)).fault).toBeNull();
  });

  it('refuses a header it cannot read with 400 invalid_fault, before any run', async () => {
    for (const bad of ['status=418', 'latency=fast', 'explode', 'webhook=maybe', 'drop-after=-1', 'cold=1']) {
      const res = await withFault('echo', bad);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_fault');
    }
  });
});

describe('the off switch', () => {
  it('ignores the header and serves no /_local/faults on a server without --allow-faults', async () => {
    const plain = await startTestServer([FAULTY]);
    try {
      const res = await plain.post(call('echo'), { a: 1 }, { [FAULT]: 'status=503;reset' });
      expect(res.status).toBe(200);
      const { run_id } = (await res.json()) as { run_id: string };
      expect((await pollRun(plain.url, 'faulty', run_id)).fault).toBeNull();
      expect((await fetch(`${plain.url}/_local/faults`)).status).toBe(404);
      const metrics = await (await fetch(`${plain.url}/metrics`)).text();
      expect(metrics).not.toContain('cerebrium_local_faults_total');
    } finally {
      await plain.close();
    }
  });
});
