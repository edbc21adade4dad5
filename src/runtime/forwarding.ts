// A run of a custom runtime is a request forwarded to one of its replicas (a web server the app
// brings), not a function call. These are the shapes it travels in: the request as the replica is
// to get it, and the replica's answer, handed back as soon as its head has arrived so the body
// streams through untouched. In-process only: nothing here crosses to a thread or a process.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type WebSocket from 'ws';
import type { RunRequest } from '../replica-protocol.ts';

export interface ForwardedRequest {
  method: string;
  /** The path on the replica, with the query string: `/predict?x=1`. */
  url: string;
  /** The caller's headers, less the hop-by-hop ones. */
  headers: IncomingHttpHeaders;
  /** The caller's body, streamed (absent for GET and HEAD). */
  body?: Readable;
  /** Set for a WebSocket upgrade: the subprotocols the caller offered. */
  upgrade?: { protocols: string[] };
  /** Where the replica's answer goes, once its head has arrived (before any body). */
  respond(response: UpstreamResponse): void;
}

export type UpstreamResponse =
  | { kind: 'http'; statusCode: number; headers: IncomingHttpHeaders; body: Readable }
  /**
   * An open WebSocket to the replica; the run ends when it closes. A server may speak first: what
   * it sent before the caller's side was joined is held in `early`, to be passed on first.
   */
  | { kind: 'websocket'; socket: WebSocket; early: EarlyMessages };

/** Messages a WebSocket received before anyone listened for them. */
export interface EarlyMessages {
  /** Stops holding messages and returns those held, in order; listen on the socket right after. */
  take(): Array<{ data: WebSocket.RawData; isBinary: boolean }>;
}

/** Holds every message `socket` receives from now until `take()`. */
export function holdMessages(socket: WebSocket): EarlyMessages {
  const held: Array<{ data: WebSocket.RawData; isBinary: boolean }> = [];
  const hold = (data: WebSocket.RawData, isBinary: boolean) => held.push({ data, isBinary });
  socket.on('message', hold);
  return {
    take: () => {
      socket.off('message', hold);
      return held;
    },
  };
}

/** A run of a custom runtime: the runtime's request, with what to forward. */
export interface ForwardRunRequest extends RunRequest {
  forward: ForwardedRequest;
}

export function isForwarded(request: RunRequest): request is ForwardRunRequest {
  return 'forward' in request;
}

/** Headers that belong to one connection and are never passed on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** `headers` without the hop-by-hop ones, nor those the Connection header names. */
export function endToEndHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}
