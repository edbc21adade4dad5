// Generator functions over Server-Sent Events, on a real socket, parsed with eventsource-parser.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('stream-app')]);
});

afterAll(async () => {
  await server?.close();
});

const SSE = { accept: 'text/event-stream' };

interface Streamed {
  res: Response;
  events: EventSourceMessage[];
  comments: string[];
}

async function stream(fn: string, body: unknown = {}): Promise<Streamed> {
  const res = await server.post(`/v4/p-test/streams/${fn}`, body, SSE);
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) });
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    parser.feed(decoder.decode(bytes, { stream: true }));
  }
  return { res, events, comments };
}

async function probe(): Promise<{ produced: number; finallyAt: number[] }> {
  const res = await server.post('/v4/p-test/streams/probe');
  return ((await res.json()) as { result: { produced: number; finallyAt: number[] } }).result;
}

describe('streaming', () => {
  it('answers text/event-stream with no-cache and x-request-id, a data frame per string chunk', async () => {
    const { res, events } = await stream('words');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.map((e) => e.data)).toEqual(['Number 0 ', 'Number 1 ', 'Number 2 ']);
    expect(events.every((e) => e.event === undefined)).toBe(true);
  });

  it('a string with newlines becomes one data line per line, one event', async () => {
    const { events } = await stream('multiline');
    expect(events.map((e) => e.data)).toEqual(['first line\nsecond line\nthird line']);
  });

  it('any other value is JSON on one data line', async () => {
    const { events } = await stream('objects');
    expect(events.map((e) => JSON.parse(e.data) as unknown)).toEqual([{ token: 'a', index: 0 }, [1, 2, 3], 42, null]);
  });

  it('pre-framed chunks pass through untouched', async () => {
    const res = await server.post('/v4/p-test/streams/preframed', {}, SSE);
    expect(await res.text()).toBe(
      'data: {"already":"framed"}\n\nevent: custom\ndata: named event\n\n: a comment frame\n\ndata: [DONE]\n\n',
    );
  });

  it('10,000 chunks arrive complete and in order', async () => {
    const { events } = await stream('many', { count: 10_000 });
    expect(events).toHaveLength(10_000);
    expect(events.every((e, i) => e.data === String(i))).toBe(true);
  });

  it('an exception mid-stream ends it with an error event, and the log has the run id and stack', async () => {
    const { res, events } = await stream('failsMidway');
    expect(events.slice(0, 2).map((e) => e.data)).toEqual(['one', 'two']);
    const last = events[events.length - 1];
    expect(last.event).toBe('error');
    const body = JSON.parse(last.data) as { run_id: string; error: { message: string; name: string } };
    expect(body.error).toMatchObject({ message: 'the stream broke', name: 'TypeError' });
    expect(body.run_id).toBe(res.headers.get('x-request-id'));
    const logged = server.logs().find((line) => line.run_id === body.run_id && line.status === 'failure');
    expect(logged).toBeDefined();
    expect((logged?.err as { stack: string } | undefined)?.stack).toContain('failsMidway');
  });

  it('a chunk that cannot be encoded ends the stream with an error event', async () => {
    const { events } = await stream('unencodable');
    expect(events[0].data).toBe('fine');
    expect(events[1].event).toBe('error');
    expect(events[1].data).toMatch(/BigInt/);
  });
});

describe('the same generators without Accept: text/event-stream', () => {
  it('answer the sync envelope with the string chunks concatenated', async () => {
    const res = await server.post('/v4/p-test/streams/words');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { result: unknown }).result).toBe('Number 0 Number 1 Number 2 ');
  });

  it('answer the array of chunks when they are not all strings', async () => {
    const res = await server.post('/v4/p-test/streams/objects');
    expect(((await res.json()) as { result: unknown }).result).toEqual([{ token: 'a', index: 0 }, [1, 2, 3], 42, null]);
  });

  it('answer 500 when the generator throws', async () => {
    const res = await server.post('/v4/p-test/streams/failsMidway');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('the stream broke');
  });
});

/** Opens a stream with node:http and hands back the paused response. */
function openStream(fn: string, body: unknown = {}): Promise<{ res: IncomingMessage; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}/v4/p-test/streams/${fn}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...SSE },
    });
    req.on('response', (res) => resolve({ res, destroy: () => req.destroy() }));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('backpressure and disconnects', () => {
  it('a client that does not read slows the generator instead of the server buffering the stream', async () => {
    const { res, destroy } = await openStream('endless', { chunkBytes: 64 * 1024 });
    res.pause();
    await new Promise((r) => setTimeout(r, 1_000));
    const stalled = (await probe()).produced;
    await new Promise((r) => setTimeout(r, 500));
    const later = (await probe()).produced;
    // 128 chunks of credit plus what the socket buffers hold: far below what 1.5 s of an unbounded
    // generator makes (thousands of 64 KiB chunks).
    expect(stalled).toBeLessThan(300);
    expect(later).toBe(stalled);
    const before = (await probe()).finallyAt.length;
    destroy();
    const after = await until(probe, (p) => p.finallyAt.length > before);
    expect(after.finallyAt.length).toBe(before + 1);
  });

  it("a client that leaves mid-stream aborts ctx.signal, the generator's finally runs, and the replica serves on", async () => {
    const { res, destroy } = await openStream('ticking');
    await new Promise<void>((resolve) => res.once('data', () => resolve()));
    const before = (await probe()).finallyAt.length;
    const leftAt = Date.now();
    destroy();
    const after = await until(probe, (p) => p.finallyAt.length > before);
    const latency = after.finallyAt[after.finallyAt.length - 1] - leftAt;
    expect(latency).toBeGreaterThanOrEqual(0);
    // The issue asks for 100 ms; the bound here leaves room for a loaded CI machine.
    expect(latency).toBeLessThan(1_000);
    const { events } = await stream('words');
    expect(events).toHaveLength(3);
  });

  it('a non-streaming function whose caller leaves sees ctx.signal abort', async () => {
    const before = (await probe()).finallyAt.length;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${server.url}/v4/p-test/streams/waitsForCaller`, { method: 'POST' });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    const after = await until(probe, (p) => p.finallyAt.length > before);
    expect(after.finallyAt.length).toBe(before + 1);
  });
});

describe('heartbeats', () => {
  it('sends a comment line on an idle stream when configured', async () => {
    const beating = await startTestServer([fixture('stream-app')], { sseHeartbeatMs: 30 });
    try {
      const { res, destroy } = await new Promise<{ res: IncomingMessage; destroy: () => void }>((resolve, reject) => {
        const req = httpRequest(`${beating.url}/v4/p-test/streams/ticking`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...SSE },
        });
        req.on('response', (r) => resolve({ res: r, destroy: () => req.destroy() }));
        req.on('error', reject);
        req.end('{"everyMs": 400}');
      });
      let text = '';
      await new Promise<void>((resolve) => {
        const deadline = setTimeout(resolve, 3_000);
        res.on('data', (d: Buffer) => {
          text += d.toString();
          // A cold replica can take longer than one heartbeat to send its first chunk: wait for both.
          if (text.includes('data: tick 0') && text.includes(': keep-alive')) {
            clearTimeout(deadline);
            resolve();
          }
        });
      });
      destroy();
      expect(text).toContain('data: tick 0');
      expect(text).toContain(': keep-alive\n\n');
    } finally {
      await beating.close();
    }
  });
});
