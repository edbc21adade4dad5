// Builds the Fastify server: body parsing, error mapping, and one small file per route. Routes
// parse what a caller sent, ask the run service, and turn its answer into HTTP.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { AppRegistry } from '../apps/app-registry.ts';
import { type AppAuth, registerAppAuth } from '../auth/auth-hook.ts';
import type { FaultInjector } from '../faults/fault-injector.ts';
import type { RunMetrics } from '../runs/run-metrics.ts';
import type { RunService } from '../runs/run-service.ts';
import { registerDashboard } from './dashboard-route.ts';
import { fromFastify, registerErrorHandling, sendError } from './error-handler.ts';
import { registerFaultsRoute } from './faults-route.ts';
import { registerForwarding, registerWebSocketUpgrades } from './forward-route.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { registerInvokeRoute } from './invoke-route.ts';
import { registerJsonBodyParser } from './json-body.ts';
import type { DashboardSettings } from './local-api-routes.ts';
import { registerMetricsRoute } from './metrics-route.ts';
import { registerOpenAiRoutes } from './openai-routes.ts';
import { registerOpenApiRoute } from './openapi-route.ts';
import { ReplicaHistory } from './replica-history.ts';
import { registerRunLogsRoute } from './run-logs-route.ts';
import { registerRunsRoutes } from './runs-routes.ts';

export interface ServerOptions {
  registry: AppRegistry;
  runs: RunService;
  metrics: RunMetrics;
  logger: Logger;
  /** Largest body accepted, in bytes (413 past it). */
  bodyLimit: number;
  /** Include stack traces in 500 bodies (off when NODE_ENV=production). */
  exposeErrorStacks: boolean;
  /** Idle ms before an SSE keep-alive comment; 0 turns heartbeats off. */
  sseHeartbeatMs: number;
  /** Deepest nesting of arrays and objects a body may have (400 past it; default 512). */
  maxJsonDepth?: number;
  /** How long a client has to send its whole request, headers and body (408 or closed past it); 0: no limit. */
  requestTimeoutMs: number;
  /** How long a stream's client may go without reading before the stream ends and its run is cancelled. */
  streamStallMs: number;
  /** Per-app bearer-token checks; every app is public when absent. */
  auth?: AppAuth;
  /** --allow-faults: serve GET/PUT/DELETE /_local/faults for this injector (tokens for `projectId`). */
  faults?: { injector: FaultInjector; projectId: string };
  /** Fault injection when on at all (--allow-faults or --faults FILE): shown in the dashboard's settings. */
  faultInjector?: FaultInjector;
  /** Serve the dashboard at / (and its /_local API) with these settings shown; off when absent (--no-dashboard). */
  dashboard?: DashboardSettings;
}

export function buildServer(options: ServerOptions): FastifyInstance {
  const { registry, runs, metrics } = options;
  const server = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // One line per run is logged by the run listener; a line per request would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // Run ids double as request ids.
    requestIdHeader: false,
    forceCloseConnections: 'idle',
    // A client sending its body byte by byte (or stopping midway) must not hold a socket forever.
    requestTimeout: options.requestTimeoutMs,
    http: requestTimeouts(options.requestTimeoutMs),
    // Errors raised before routing (a path with broken %-encoding) leave in the same envelope.
    frameworkErrors: (err, _request, reply) => sendError(reply, fromFastify(err)),
  });
  registerWebSocketUpgrades(server);
  registerJsonBodyParser(server, { maxDepth: options.maxJsonDepth });
  registerErrorHandling(server);
  // Before any route: the hook covers every route whose path names an app.
  if (options.auth) registerAppAuth(server, options.auth);
  // After auth: a custom runtime's requests are forwarded only once they pass it.
  registerForwarding(server, {
    runs,
    isCustom: (name) => registry.isCustom(name),
    exposeStack: options.exposeErrorStacks,
    stallMs: options.streamStallMs,
  });
  registerHealthRoutes(server, registry, () => runs.storeHealth());
  registerMetricsRoute(server, metrics);
  registerOpenApiRoute(server, registry, options.auth);
  const sse = { heartbeatMs: options.sseHeartbeatMs, stallMs: options.streamStallMs, exposeStack: options.exposeErrorStacks, metrics };
  registerInvokeRoute(server, { runs, sse });
  registerOpenAiRoutes(server, { runs, sse });
  registerRunsRoutes(server, runs);
  if (options.faults) registerFaultsRoute(server, { ...options.faults, auth: options.auth });
  registerRunLogsRoute(server, runs, { heartbeatMs: options.sseHeartbeatMs });
  if (options.dashboard) {
    const history = new ReplicaHistory(registry);
    registerDashboard(server, {
      registry,
      runs,
      auth: options.auth,
      history,
      settings: options.dashboard,
      heartbeatMs: options.sseHeartbeatMs,
      faults: options.faultInjector,
    });
  }
  return server;
}

/**
 * Node's own limits for receiving a request: headers no later than the whole request, and the
 * check for expired requests often enough to keep the limit (Node checks every 30 s by default).
 */
function requestTimeouts(requestTimeoutMs: number): {
  headersTimeout?: number;
  requestTimeout: number;
  connectionsCheckingInterval?: number;
} {
  if (requestTimeoutMs === 0) return { requestTimeout: 0 };
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(60_000, requestTimeoutMs),
    connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(requestTimeoutMs / 4))),
  };
}
