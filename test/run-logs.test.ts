// A run's logs over a real socket: what a function logs (ctx.log, console.*, a Python app's prints
// and logging) is kept with its run, read back as JSON, followed live as SSE, bounded per run with
// a flag when cut, kept across a restart, and behind the runs API's auth.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

interface LogLine {
  seq: number;
  at: string;
  stream: string;
  level: string;
  line: string;
  cut?: boolean;
}

const runsBase = (app: string) => `/v2/projects/p-test/apps/p-test-${app}/runs`;

async function asyncRun(server: TestServer, app: string, fn: string, body: unknown): Promise<string> {
  const res = await server.post(`/v4/p-test/${app}/${fn}?async=true`, body);
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
}

async function runStatus(server: TestServer, app: string, runId: string): Promise<string> {
  const res = await fetch(`${server.url}${runsBase(app)}/${runId}`);
  return ((await res.json()) as { item: { status: string } }).item.status;
}

async function logsOf(server: TestServer, app: string, runId: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${runsBase(app)}/${runId}/logs`, { headers });
  return { status: res.status, body: (await res.json()) as { items: LogLine[]; truncated: boolean } };
}

/** Reads an SSE body to its end (or until `stop` says so), as `event` / parsed `data` pairs. */
async function readEvents(res: Response, stop?: (events: Array<{ event: string; data: unknown }>) => boolean) {
  const events: Array<{ event: string; data: unknown }> = [];
  const decoder = new TextDecoder();
  let text = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      const frame = text.slice(0, end);
      text = text.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
      end = text.indexOf('\n\n');
    }
    if (stop?.(events)) {
      await reader.cancel();
      break;
    }
  }
  return events;
}

describe('run logs of a TypeScript app', () => {
  let server: TestServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'run-logs-'));
    server = await startTestServer([fixture('logs-app')], { dataDir, runLogBounds: { maxLines: 50, maxBytes: 2_000 } });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps what ctx.log and the console wrote, in order, with levels and streams, whatever the server log level', async () => {
    const res = await server.post('/v4/p-test/logs/chatty', { name: 'Ada' });
    const { run_id } = (await res.json()) as { run_id: string };
    const { status, body } = await logsOf(server, 'logs', run_id);
    expect(status).toBe(200);
    expect(body.truncated).toBe(false);
    expect(body.items.map(({ stream, level, line }) => ({ stream, level, line }))).toEqual([
      { stream: 'log', level: 'info', line: 'starting for Ada {"step":1}' },
      { stream: 'log', level: 'debug', line: 'a debug line' },
      { stream: 'stdout', level: 'info', line: 'printed with console.log' },
      { stream: 'stderr', level: 'error', line: 'printed with console.error' },
    ]);
    expect(body.items.map((l) => l.seq)).toEqual([0, 1, 2, 3]);
    expect(Date.parse(body.items[0].at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('keeps only the last lines past the line bound and says the logs were cut', async () => {
    const res = await server.post('/v4/p-test/logs/flood', { lines: 120 });
    const { run_id } = (await res.json()) as { run_id: string };
    const { body } = await logsOf(server, 'logs', run_id);
    expect(body.truncated).toBe(true);
    expect(body.items).toHaveLength(50);
    expect(body.items[0].line).toBe('line 70 xxxxxxxxxx');
    expect(body.items.at(-1)?.line).toBe('line 119 xxxxxxxxxx');
    expect(body.items[0].seq).toBe(70);
  });

  it('keeps at most the byte bound of text, cutting a single line larger than all of it', async () => {
    const res = await server.post('/v4/p-test/logs/flood', { lines: 20, size: 300 });
    const { run_id } = (await res.json()) as { run_id: string };
    const { body } = await logsOf(server, 'logs', run_id);
    expect(body.truncated).toBe(true);
    const bytes = body.items.reduce((sum, l) => sum + Buffer.byteLength(l.line), 0);
    expect(bytes).toBeLessThanOrEqual(2_000);
    expect(body.items.at(-1)?.line.startsWith('line 19 ')).toBe(true);

    const huge = await server.post('/v4/p-test/logs/flood', { lines: 1, size: 5_000 });
    const hugeRun = ((await huge.json()) as { run_id: string }).run_id;
    const cut = (await logsOf(server, 'logs', hugeRun)).body;
    expect(cut.truncated).toBe(true);
    expect(cut.items).toHaveLength(1);
    expect(cut.items[0].cut).toBe(true);
    expect(Buffer.byteLength(cut.items[0].line)).toBe(2_000);
  });

  it('streams a live run’s lines as SSE as they are logged, and ends the stream when the run ends', async () => {
    const runId = await asyncRun(server, 'logs', 'ticker', { lines: 6, everyMs: 80 });
    const res = await fetch(`${server.url}${runsBase('logs')}/${runId}/logs`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const started = Date.now();
    const events = await readEvents(res);
    // The run takes ~480 ms: the stream stayed open while it logged.
    expect(Date.now() - started).toBeGreaterThan(200);
    const lines = events.filter((e) => e.event === 'log').map((e) => (e.data as LogLine).line);
    expect(lines).toEqual(['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
    expect(events.at(-1)).toEqual({ event: 'end', data: { truncated: false } });
  });

  it('answers ?follow=true for a finished run with its lines and an end at once', async () => {
    const res = await server.post('/v4/p-test/logs/chatty', {});
    const { run_id } = (await res.json()) as { run_id: string };
    const follow = await fetch(`${server.url}${runsBase('logs')}/${run_id}/logs?follow=true`);
    const events = await readEvents(follow);
    expect(events.filter((e) => e.event === 'log')).toHaveLength(4);
    expect(events.at(-1)?.event).toBe('end');
  });

  it('answers 404 run_not_found for a run of another app or no run at all', async () => {
    const res = await server.post('/v4/p-test/logs/chatty', {});
    const { run_id } = (await res.json()) as { run_id: string };
    const wrongApp = await fetch(`${server.url}${runsBase('other')}/${run_id}/logs`);
    expect(wrongApp.status).toBe(404);
    expect(((await wrongApp.json()) as { error: { code: string } }).error.code).toBe('run_not_found');
    const none = await fetch(`${server.url}${runsBase('logs')}/not-a-run/logs?follow=true`);
    expect(none.status).toBe(404);
  });

  it('keeps a run’s logs across a restart of the server on the same data dir', async () => {
    const res = await server.post('/v4/p-test/logs/chatty', { name: 'later' });
    const { run_id } = (await res.json()) as { run_id: string };
    await until(
      () => logsOf(server, 'logs', run_id),
      (r) => r.body.items.length === 4,
    );
    await server.close();
    server = await startTestServer([fixture('logs-app')], { dataDir, runLogBounds: { maxLines: 50, maxBytes: 2_000 } });
    const { body } = await logsOf(server, 'logs', run_id);
    expect(body.items[0].line).toBe('starting for later {"step":1}');
    expect(body.items).toHaveLength(4);
  });

  it('follows a run to its cancel: the stream ends when the run is cancelled', async () => {
    const runId = await asyncRun(server, 'logs', 'ticker', { lines: 1_000, everyMs: 30 });
    const res = await fetch(`${server.url}${runsBase('logs')}/${runId}/logs?follow=true`);
    const reading = readEvents(res);
    await until(
      () => runStatus(server, 'logs', runId),
      (s) => s === 'running',
    );
    const cancel = await fetch(`${server.url}${runsBase('logs')}/${runId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const events = await reading;
    expect(events.at(-1)?.event).toBe('end');
    expect(await runStatus(server, 'logs', runId)).toBe('cancelled');
  });
});

describe('run logs of a Python app', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer([fixture('python-app')]);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('keeps what the function printed and logged with `logging`', async () => {
    const res = await server.post('/v4/p-test/py/prints_and_logs', { word: 'owl' });
    expect(res.status).toBe(200);
    const { run_id } = (await res.json()) as { run_id: string };
    const { body } = await until(
      () => logsOf(server, 'py', run_id),
      (r) => r.body.items.length >= 2,
    );
    expect(body.items.map(({ stream, level, line }) => ({ stream, level, line }))).toEqual([
      { stream: 'stdout', level: 'info', line: 'printed owl' },
      { stream: 'log', level: 'info', line: 'logged owl' },
    ]);
  });
});

describe('run logs behind auth', () => {
  let server: TestServer;
  const secret = 'a-test-secret-that-is-long-enough-for-hs256';

  beforeAll(async () => {
    server = await startTestServer([fixture('logs-app')], { auth: { jwtSecret: secret } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('needs a token for the project, as the runs API does with a key source configured, for JSON and SSE alike', async () => {
    const res = await server.post('/v4/p-test/logs/chatty', {});
    const { run_id } = (await res.json()) as { run_id: string };
    const bare = await fetch(`${server.url}${runsBase('logs')}/${run_id}/logs`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer');
    const bareSse = await fetch(`${server.url}${runsBase('logs')}/${run_id}/logs?follow=true`);
    expect(bareSse.status).toBe(401);

    const other = await signToken(secretSigningKey(secret), 'p-other', 60);
    const wrong = await logsOf(server, 'logs', run_id, { authorization: `Bearer ${other}` });
    expect(wrong.status).toBe(403);

    const token = await signToken(secretSigningKey(secret), 'p-test', 60);
    const good = await logsOf(server, 'logs', run_id, { authorization: `Bearer ${token}` });
    expect(good.status).toBe(200);
    expect(good.body.items).toHaveLength(4);
  });

  it('puts the dashboard’s /_local API behind the same token, its event stream included', async () => {
    for (const path of ['/_local/settings', '/_local/apps', '/_local/replicas', '/_local/events']) {
      const bare = await fetch(`${server.url}${path}`);
      expect(bare.status, path).toBe(401);
    }
    const token = await signToken(secretSigningKey(secret), 'p-test', 60);
    const apps = await fetch(`${server.url}/_local/apps`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await apps.json()) as { items: Array<{ name: string }> }).items.map((a) => a.name)).toEqual(['logs']);
    const stop = new AbortController();
    const events = await fetch(`${server.url}/_local/events`, { headers: { authorization: `Bearer ${token}` }, signal: stop.signal });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    stop.abort();
  });
});
