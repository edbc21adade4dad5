// Starts a server for a set of app folders: validate every cerebrium.toml (a bad one stops
// start-up), listen, then load each app's functions; /ready turns 200 when that is done.
import type { FastifyInstance } from 'fastify';
import { relative } from 'node:path';
import { AppRegistry } from './apps/app-registry.ts';
import { buildServer, DEFAULT_BODY_LIMIT } from './http/server.ts';
import { createLogger, wantsPrettyLogs, type Logger } from './log.ts';
import type { DestinationStream } from 'pino';

export interface ServeOptions {
  appDirs: string[];
  host: string;
  port: number;
  /** The project id printed in URLs and given to replicas as PROJECT_ID. */
  projectId: string;
  logLevel: string;
  /** Lines go here; stdout when absent. */
  logDestination?: DestinationStream;
  bodyLimit?: number;
  maxQueue?: number;
  /** How long an aborted function (timed out, or its caller left) gets before its replica is replaced. */
  abortGraceMs?: number;
  sseHeartbeatMs?: number;
  exposeErrorStacks?: boolean;
  /** Where the start-up banner goes (function URLs); nowhere when absent. */
  print?: (line: string) => void;
}

export interface RunningServer {
  server: FastifyInstance;
  registry: AppRegistry;
  logger: Logger;
  /** http://host:port, with the port actually bound. */
  url: string;
  /** Resolves when every app's functions are loaded (rejects if one fails to load). */
  loaded: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const pretty = options.logDestination ? false : wantsPrettyLogs();
  const logger = createLogger({ level: options.logLevel, pretty, destination: options.logDestination });
  const registry = new AppRegistry({
    projectId: options.projectId,
    logLevel: options.logLevel,
    prettyLogs: pretty,
    maxQueue: options.maxQueue ?? 1000,
    abortGraceMs: options.abortGraceMs ?? 5_000,
  });
  const warnings = await registry.loadConfigs(options.appDirs);
  for (const warning of warnings) logger.warn(warning);

  const server = buildServer({
    registry,
    logger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    exposeErrorStacks: options.exposeErrorStacks ?? process.env.NODE_ENV !== 'production',
    sseHeartbeatMs: options.sseHeartbeatMs ?? 15_000,
  });
  await server.listen({ host: options.host, port: options.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${shownHost}:${port}`;

  const loaded = registry.loadFunctions().then(() => {
    if (options.print) printFunctionUrls(options.print, registry, url, options.projectId);
  });
  // The caller decides what a load failure means; this keeps it from being unhandled meanwhile.
  loaded.catch(() => undefined);

  return {
    server,
    registry,
    logger,
    url,
    loaded,
    async close() {
      await server.close();
      await registry.close();
    },
  };
}

function printFunctionUrls(print: (line: string) => void, registry: AppRegistry, url: string, projectId: string): void {
  for (const app of registry.list()) {
    const functions = AppRegistry.publicFunctions(app);
    const where = relative(process.cwd(), app.config.file) || app.config.file;
    print(`App "${app.config.name}" (${where}): ${functions.length} function${functions.length === 1 ? '' : 's'}`);
    for (const fn of functions) {
      const streams = fn.kind === 'function' ? '' : '  (streams with Accept: text/event-stream)';
      print(`  POST ${url}/v4/${projectId}/${app.config.name}/${fn.name}${streams}`);
    }
  }
  print(`Ready on ${url}`);
}
