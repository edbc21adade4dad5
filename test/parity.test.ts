// The parity kit: `record` against a server standing in for a deployment (the emulator itself, or
// a small server that answers differently), then `parity` replaying the golden files against the
// emulator, over real sockets. Equal answers pass; a deliberate difference fails with its diff.
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIo } from '../src/cli/command-args.ts';
import { parityCommand } from '../src/cli/parity-command.ts';
import { recordCommand } from '../src/cli/record-command.ts';
import { tempDir } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const FAULTY = fixture('faults-app');

const REQUESTS = [
  { name: 'echo', function: 'echo', body: { a: 1, nested: { b: [1, 2] } } },
  { name: 'stream', function: 'count', body: { n: 3 }, stream: true },
  { name: 'later', function: 'echo', body: { c: 'x' }, async: true },
  { name: 'missing', function: 'no_such_function', body: {} },
  { name: 'wrong-method', method: 'GET', function: 'echo' },
];

let deployment: TestServer;
let emulator: TestServer;
let dir: ReturnType<typeof tempDir>;
let requestsFile: string;

beforeAll(async () => {
  // One server plays both parts: it stands in for the deployment when recording and is the emulator checked.
  emulator = await startTestServer([FAULTY]);
  deployment = emulator;
  dir = tempDir('cl-parity-');
  requestsFile = join(dir.dir, 'requests.jsonl');
  writeFileSync(requestsFile, `${REQUESTS.map((r) => JSON.stringify(r)).join('\n')}\n`);
});

afterAll(async () => {
  await emulator?.close();
  dir?.remove();
});

/** Output lines of a command run in this process. */
function captured(): CommandIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (line) => lines.push(line), err: (line) => lines.push(line) };
}

async function recordFrom(baseUrl: string, out: string): Promise<string[]> {
  const io = captured();
  const code = await recordCommand(['--base-url', baseUrl, '--app', 'faulty', '--project', 'p-test', '--out', out, requestsFile], io);
  expect(code, io.lines.join('\n')).toBe(0);
  return io.lines;
}

async function parity(golden: string): Promise<{ code: number; lines: string[] }> {
  const io = captured();
  const code = await parityCommand([golden, '--base-url', emulator.url], io);
  return { code, lines: io.lines };
}

describe('record', () => {
  it('writes a golden file per request, with run ids, times and durations normalised', async () => {
    const out = join(dir.dir, 'recorded');
    const lines = await recordFrom(deployment.url, out);
    expect(lines).toContain('echo: 200');
    expect(lines).toContain('stream: 200 (3 events)');

    const manifest = JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8'));
    expect(manifest).toMatchObject({ project: 'p-test', app: 'faulty', requests: REQUESTS.map((r) => r.name) });

    const echo = JSON.parse(readFileSync(join(out, 'echo.json'), 'utf8'));
    expect(echo.response).toMatchObject({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': '<run_id>' },
      body: { run_id: '<run_id>', result: { echo: { a: 1, nested: { b: [1, 2] } } }, run_time_ms: '<number>' },
    });
    expect(Object.keys(echo.response.shape)).toEqual(['run_id', 'result', 'run_time_ms']);

    const stream = JSON.parse(readFileSync(join(out, 'stream.json'), 'utf8'));
    expect(stream.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.response.events).toEqual([0, 1, 2].map((i) => ({ fields: ['data'], data: `event ${i}`, shape: 'text' })));
    expect(stream.response.streamEnd).toBe('clean');

    const later = JSON.parse(readFileSync(join(out, 'later.json'), 'utf8'));
    expect(later.response).toMatchObject({ status: 202, body: { run_id: '<run_id>' } });
    expect(later.response.run.body.item).toMatchObject({ id: '<run_id>', status: 'success', createdAt: '<time>' });
  });
});

describe('parity', () => {
  it('passes when the emulator answers every request as recorded', async () => {
    const out = join(dir.dir, 'same');
    await recordFrom(deployment.url, out);
    const { code, lines } = await parity(out);
    expect(lines.join('\n')).toContain('All 5 requests answer as recorded.');
    expect(code).toBe(0);
  });

  it('fails on a deliberate difference, naming the request and what differs', async () => {
    const out = join(dir.dir, 'edited');
    await recordFrom(deployment.url, out);
    const file = join(out, 'echo.json');
    const golden = JSON.parse(readFileSync(file, 'utf8'));
    golden.response.status = 201;
    golden.response.shape = { run_id: 'string', run_time_ms: 'number', result: { echo: { a: 'string', nested: { b: ['number'] } } } };
    delete golden.response.headers['x-request-id'];
    writeFileSync(file, JSON.stringify(golden));

    const { code, lines } = await parity(out);
    expect(code).toBe(1);
    const text = lines.join('\n');
    expect(text).toContain('✗ echo');
    expect(text).toContain('status: expected 201, got 200');
    expect(text).toContain('header x-request-id: not expected');
    expect(text).toContain('body: key order expected [run_id, run_time_ms, result], got [run_id, result, run_time_ms]');
    expect(text).toContain('body.result.echo.a: expected string, got number');
    expect(text).toContain('✓ stream');
    expect(text).toContain('1 of 5 requests differ');
  });

  it('catches a deployment whose answers differ in key order, framing and status', async () => {
    const standIn = await startStandIn();
    try {
      const out = join(dir.dir, 'stand-in');
      await recordFrom(standIn.url, out);
      const { code, lines } = await parity(out);
      expect(code).toBe(1);
      const text = lines.join('\n');
      expect(text).toContain('body: key order expected [result, run_id, run_time_ms], got [run_id, result, run_time_ms]');
      expect(text).toContain('framing: event 1 has fields [data], expected [event, data]');
      expect(text).toContain('framing: expected 2 events, got 3');
      expect(text).toContain('status: expected 404, got 405');
      expect(text).toContain('header allow: not expected (got "POST")');
    } finally {
      await standIn.close();
    }
  });

  it('says what it needs when run without a golden folder', async () => {
    const { code, lines } = await parity(join(dir.dir, 'nowhere'));
    expect(code).toBe(1);
    expect(lines.join('\n')).toContain('cerebrium-local parity:');
  });
});

/**
 * A deployment that answers like Cerebrium, but not quite: its keys in another order, named SSE
 * events, and 404 for a GET. Enough to show each kind of difference parity reports.
 */
async function startStandIn(): Promise<{ url: string; close(): Promise<void> }> {
  const runId = '0b9e6f1e-3c1a-4c4e-9a51-0e3f7c1d2a4b';
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    req.resume();
    if (path.includes('/runs/')) {
      const item = { id: runId, functionName: 'echo', status: 'success' };
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ item }));
    } else if (req.method === 'GET') {
      res
        .writeHead(404, { 'content-type': 'application/json; charset=utf-8' })
        .end('{"error":{"message":"no","type":"x","code":"route_not_found"}}');
    } else if (path.includes('/count')) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': runId });
      res.end('event: token\ndata: event 0\n\nevent: token\ndata: event 1\n\n');
    } else if (path.includes('async=true')) {
      res
        .writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': runId })
        .end(JSON.stringify({ run_id: runId }));
    } else if (path.includes('/echo')) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': runId });
      res.end(JSON.stringify({ result: { echo: {} }, run_id: runId, run_time_ms: 1.5 }));
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json; charset=utf-8' })
        .end('{"error":{"message":"no","type":"not_found_error","code":"function_not_found"}}');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
