// Builds the Fastify server: body parsing, error mapping, and one small file per route.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AppRegistry } from '../apps/app-registry.ts';
import { registerAppAuth, type AppAuth } from '../auth/auth-hook.ts';
import { RunMetrics } from '../runs/run-metrics.ts';
import type { RunStore } from '../runs/run-store.ts';
import type { WebhookSender } from '../runs/webhooks.ts';
import { registerErrorHandling } from './error-handler.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { registerInvokeRoute } from './invoke-route.ts';
import { registerJsonBodyParser } from './json-body.ts';
import { registerMetricsRoute } from './metrics-route.ts';
import { registerOpenAiRoutes } from './openai-routes.ts';
import { registerOpenApiRoute } from './openapi-route.ts';
import { registerRunsRoutes } from './runs-routes.ts';

export interface ServerOptions {
  registry: AppRegistry;
  logger: Logger;
  /** Largest body accepted, in bytes (413 past it). */
  bodyLimit: number;
  /** Include stack traces in 500 bodies (off when NODE_ENV=production). */
  exposeErrorStacks: boolean;
  /** Idle ms before an SSE keep-alive comment; 0 turns heartbeats off. */
  sseHeartbeatMs: number;
  /** Per-app bearer-token checks; every app is public when absent. */
  auth?: AppAuth;
  /** Every run, sync and async; read by the runs API. */
  runStore: RunStore;
  /** Delivers ?webhookEndpoint= outcomes. */
  webhooks: WebhookSender;
}

export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

export function buildServer(options: ServerOptions): FastifyInstance {
  const server = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    // One line per run is logged by the run listener; a line per request would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // Run ids double as request ids.
    requestIdHeader: false,
    forceCloseConnections: 'idle',
  });
  registerJsonBodyParser(server);
  registerErrorHandling(server);
  // Before any route: the hook covers every route whose path names an app.
  if (options.auth) registerAppAuth(server, options.auth);
  registerHealthRoutes(server, options.registry);
  const metrics = new RunMetrics(options.registry);
  registerMetricsRoute(server, metrics);
  registerOpenApiRoute(server, options.registry);
  const runDeps = {
    registry: options.registry,
    runLog: options.logger,
    sse: { heartbeatMs: options.sseHeartbeatMs, exposeStack: options.exposeErrorStacks, metrics },
    runStore: options.runStore,
    webhooks: options.webhooks,
    metrics,
  };
  registerInvokeRoute(server, runDeps);
  registerOpenAiRoutes(server, runDeps);
  registerRunsRoutes(server, options.runStore);
  return server;
}
