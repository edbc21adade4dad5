// Builds the Fastify server: body parsing, error mapping, and one small file per route.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AppRegistry } from '../apps/app-registry.ts';
import { registerErrorHandling } from './error-handler.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { registerInvokeRoute } from './invoke-route.ts';
import { registerJsonBodyParser } from './json-body.ts';

export interface ServerOptions {
  registry: AppRegistry;
  logger: Logger;
  /** Largest body accepted, in bytes (413 past it). */
  bodyLimit: number;
  /** Include stack traces in 500 bodies (off when NODE_ENV=production). */
  exposeErrorStacks: boolean;
  /** Idle ms before an SSE keep-alive comment; 0 turns heartbeats off. */
  sseHeartbeatMs: number;
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
  registerHealthRoutes(server, options.registry);
  registerInvokeRoute(server, {
    registry: options.registry,
    runLog: options.logger,
    sse: { heartbeatMs: options.sseHeartbeatMs, exposeStack: options.exposeErrorStacks },
  });
  return server;
}
