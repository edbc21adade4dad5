// Clients that hold a socket without making progress: one that sends its body too slowly
// (--request-timeout-ms), and one that stops reading a stream (--stream-stall-ms). Raw sockets, so
// the test decides exactly what the client sends and reads.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('stream-app')], { requestTimeoutMs: 500, streamStallMs: 500, logLevel: 'info' });
});

afterAll(async () => {
  await server?.close();
});

function open(): Promise<Socket> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** The server's side of the next connection made. */
function nextServerSocket(): Promise<Socket> {
  return new Promise((resolve) => server.running.server.server.once('connection', resolve));
}

/** Resolves with what the server sent once it closed the connection, and when. */
function closedBy(socket: Socket): Promise<{ text: string; at: number }> {
  let text = '';
  socket.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ text, at: Date.now() }));
  });
}

describe('--request-timeout-ms', () => {
  it('answers 408 and closes the connection of a client that sends its body a byte at a time', async () => {
    const socket = await open();
    const closed = closedBy(socket);
    const began = Date.now();
    socket.write('POST /v4/p-test/streams/words HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      const { text, at } = await closed;
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(at - began).toBeGreaterThanOrEqual(450);
      expect(at - began).toBeLessThan(2_000);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  it('closes the connection of a client that stops midway through its body', async () => {
    const socket = await open();
    const closed = closedBy(socket);
    const began = Date.now();
    socket.write('POST /v4/p-test/streams/words HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":');
    const { at } = await closed;
    expect(at - began).toBeLessThan(2_000);
  });

  it('does not cut a stream that lasts longer than the limit once the request has arrived', async () => {
    const socket = await open();
    const closed = closedBy(socket);
    const body = '{"everyMs":50}';
    socket.write(
      `POST /v4/p-test/streams/ticking HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
    });
    await until(
      () => text,
      (t) => t.includes('data: tick 1\n'),
    );
    // Twice the request timeout later, the stream still flows.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(socket.destroyed).toBe(false);
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text).toContain('data: tick 10\n');
    socket.destroy();
    await closed;
  });
});

describe('--stream-stall-ms', () => {
  it('ends a stream whose client reads nothing, cancels its run and closes the socket', async () => {
    const serverSide = nextServerSocket();
    const socket = await open();
    const serverClosed = new Promise((resolve) => void serverSide.then((s) => s.once('close', resolve)));
    // Reads nothing from here on: the server's writes back up until its buffers are full.
    socket.pause();
    const body = '{"chunkBytes":262144}';
    socket.write(
      `POST /v4/p-test/streams/endless HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    try {
      const line = await until(
        () => server.logs().find((l) => l.function === 'endless' && 'status' in l),
        (l) => l !== undefined,
      );
      expect(line?.status).toBe('cancelled');
      await serverClosed;
      expect((await serverSide).destroyed).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});
