// Custom runtimes: every request under /v4/{project}/{app}/ of an app that is its own web server is
// forwarded to one of its replicas as a run (method, path, query, headers and body streamed), and
// its answer is passed back as it comes: status, headers and body untouched, SSE and chunked
// included. WebSocket upgrades are opened to the replica first, then accepted and piped both ways.
// An onRequest hook on the root does it, after the auth hook, so the function routes and OpenAI
// routes forward too for such an app; the catch-all routes here make every path under an app
// routed (so auth applies) and answer 404 / 405 for function apps. Injected faults (the
// x-cerebrium-local-fault header, the rules) apply as to functions: status=, latency= and cold in
// the run service and runtime, reset and drop-after (an event stream) here; webhook= does not apply.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import { CerebriumLocalError } from '../errors.ts';
import type { Run } from '../runs/run.ts';
import { runError } from '../runs/run-outcome.ts';
import type { ForwardCall, RunService } from '../runs/run-service.ts';
import { endToEndHeaders, type ForwardedRequest, type UpstreamResponse } from '../runtime/forwarding.ts';
import { cutEventStreamAfter, isEventStream } from './event-stream-cut.ts';
import { faultHeader, resetConnection } from './fault-reply.ts';
import { cancelWhenCallerLeaves } from './run-reply.ts';
import { watchForStall } from './stall-watch.ts';
import { pipeWebSockets } from './websocket-pipe.ts';

export interface ForwardingOptions {
  runs: RunService;
  /** Whether an app is a custom runtime. */
  isCustom(appName: string): boolean;
  exposeStack: boolean;
  /** --stream-stall-ms: an answer its client reads none of for this long is ended and its run cancelled. */
  stallMs: number;
}

interface AppPath {
  projectId?: string;
  appName?: string;
}

/** A WebSocket opened to a replica, waiting for the caller's upgrade to be accepted. */
const openedUpstreams = new WeakMap<IncomingMessage, Extract<UpstreamResponse, { kind: 'websocket' }>>();

const OTHER_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * WebSocket upgrades go through Fastify's routing and hooks (@fastify/websocket). Registered before
 * any other hook, so an upgrade refused by one (auth) still has its socket closed after the answer.
 */
export function registerWebSocketUpgrades(server: FastifyInstance): void {
  server.register(websocket, {
    // The subprotocol is the one the replica chose.
    options: { handleProtocols: (_offered, req) => openedUpstreams.get(req)?.socket.protocol || false },
  });
}

export function registerForwarding(server: FastifyInstance, options: ForwardingOptions): void {
  server.addHook('onRequest', async (request, reply) => {
    const { projectId, appName } = request.params as AppPath;
    if (projectId === undefined || appName === undefined || !request.url.startsWith('/v4/') || !options.isCustom(appName)) return;
    const call: Omit<ForwardCall, 'forward'> = { projectId, appName, ...pathOnReplica(request.url) };
    const fault = options.runs.forwardFaultsFor(appName, call.path, faultHeader(request.headers));
    if (fault) call.fault = fault;
    if (isUpgrade(request.raw)) {
      await openUpstream(request, options, call);
      return; // the route's wsHandler accepts the upgrade and pipes it
    }
    await forwardHttp(request, reply, options, call);
    return reply;
  });

  server.register(async (scope) => {
    const wsHandler = (client: WebSocket, request: FastifyRequest) => acceptUpgrade(client, request);
    // Function apps are only POSTed to, at one segment; other methods say so.
    const notAllowed = async (request: FastifyRequest) => {
      const err = new CerebriumLocalError('method_not_allowed', `Functions are called with POST, not ${request.method}`);
      err.headers = { allow: 'POST' };
      throw err;
    };
    scope.route({ method: 'GET', url: '/v4/:projectId/:appName/:functionName', wsHandler, handler: notAllowed });
    scope.route({ method: OTHER_METHODS.filter((m) => m !== 'POST'), url: '/v4/:projectId/:appName/:functionName', handler: notAllowed });
    // Deeper paths exist only in custom runtimes.
    const notFound = async (request: FastifyRequest) => {
      throw new CerebriumLocalError('route_not_found', `No route for ${request.method} ${request.url.split('?')[0]}`);
    };
    scope.route({ method: 'GET', url: '/v4/:projectId/:appName/*', wsHandler, handler: notFound });
    scope.route({ method: [...OTHER_METHODS], url: '/v4/:projectId/:appName/*', handler: notFound });
  });
}

/** `/v4/{p}/{app}/rest?q` → the path and query the replica gets, as the caller encoded them. */
function pathOnReplica(url: string): Pick<ForwardCall, 'path' | 'query'> {
  const at = url.indexOf('?');
  const pathname = at < 0 ? url : url.slice(0, at);
  return { path: `/${pathname.split('/').slice(4).join('/')}`, query: at < 0 ? '' : url.slice(at + 1) };
}

function isUpgrade(raw: IncomingMessage): boolean {
  return raw.headers.upgrade?.toLowerCase() === 'websocket';
}

/** Forwards the request and sends the replica's answer as it comes; the error envelope if none came. */
async function forwardHttp(request: FastifyRequest, reply: FastifyReply, options: ForwardingOptions, call: Omit<ForwardCall, 'forward'>) {
  const { forward, answered } = forwardedRequest(request, call);
  const { run, settled } = options.runs.forward({ ...call, forward });
  reply.header('x-request-id', run.id);
  cancelWhenCallerLeaves(reply, run);
  const response = await firstOf(answered, settled);
  if (response?.kind !== 'http') throw failed(run, options);
  if (call.fault?.reset) {
    // The replica answered and the caller never hears it: its body is read to the end, then the connection goes.
    response.body.resume();
    await settled;
    return resetConnection(reply);
  }
  watchForStall(reply.raw, options.stallMs, () => {
    run.requestCancel(`The client read nothing of the answer for ${options.stallMs} ms (--stream-stall-ms)`);
    reply.raw.destroy();
  });
  const headers = endToEndHeaders(response.headers);
  const dropAfter = call.fault?.dropAfter;
  if (dropAfter !== undefined && isEventStream(response.headers)) {
    const answer = { statusCode: response.statusCode, headers, body: response.body };
    return cutEventStreamAfter(reply, answer, dropAfter, () =>
      run.requestCancel(`The stream was cut by an injected fault (${call.fault?.text})`),
    );
  }
  reply.code(response.statusCode).headers(headers);
  return reply.send(response.body);
}

/** Opens the WebSocket to a replica before the caller's upgrade is accepted, so a failure is still an HTTP answer. */
async function openUpstream(request: FastifyRequest, options: ForwardingOptions, call: Omit<ForwardCall, 'forward'>) {
  const { forward, answered } = forwardedRequest(request, call);
  const offered = request.headers['sec-websocket-protocol'];
  forward.upgrade = { protocols: offered ? offered.split(',').map((p) => p.trim()) : [] };
  const { run, settled } = options.runs.forward({ ...call, forward });
  const response = await firstOf(answered, settled);
  if (response?.kind !== 'websocket') throw failed(run, options);
  openedUpstreams.set(request.raw, response);
}

function acceptUpgrade(client: WebSocket, request: FastifyRequest): void {
  const upstream = openedUpstreams.get(request.raw);
  openedUpstreams.delete(request.raw);
  if (!upstream) {
    client.close(1011, 'No replica took this WebSocket');
    return;
  }
  pipeWebSockets(client, upstream.socket, upstream.early);
}

/** The request as the replica gets it, and the promise of its answer's head. */
function forwardedRequest(request: FastifyRequest, call: Omit<ForwardCall, 'forward'>) {
  let respond!: (response: UpstreamResponse) => void;
  const answered = new Promise<UpstreamResponse>((resolve) => {
    respond = resolve;
  });
  const { raw } = request;
  const forward: ForwardedRequest = {
    method: request.method,
    url: call.query === '' ? call.path : `${call.path}?${call.query}`,
    headers: forwardedHeaders(raw),
    respond,
  };
  if (raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined) forward.body = raw;
  return { forward, answered };
}

/** The caller's end-to-end headers, with where the request came from (X-Forwarded-*). */
function forwardedHeaders(raw: IncomingMessage): IncomingHttpHeaders {
  const headers = endToEndHeaders(raw.headers);
  const host = headers.host;
  delete headers.host;
  const client = raw.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${client}` : client;
  if (host !== undefined) headers['x-forwarded-host'] = host;
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

/** The answer's head, or undefined once the run has ended without one. */
function firstOf(answered: Promise<UpstreamResponse>, settled: Promise<Run>): Promise<UpstreamResponse | undefined> {
  return Promise.race([answered, settled.then(() => undefined)]);
}

function failed(run: Run, options: ForwardingOptions): CerebriumLocalError {
  if (run.status === 'success')
    return new CerebriumLocalError('internal_error', 'The replica answered in a way the server could not pass on');
  return runError(run, options.exposeStack);
}
