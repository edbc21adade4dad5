// Starts a server for a set of app folders: validate every cerebrium.toml (a bad one stops
// start-up), listen, then load each app's functions; /ready turns 200 when that is done.

import { relative } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { AppRegistry } from './apps/app-registry.ts';
import { AppWatcher } from './apps/app-watcher.ts';
import type { AppAuth } from './auth/auth-hook.ts';
import { authChangeNotice, prepareAuthReload } from './auth/auth-reload.ts';
import { publicAppsWarning } from './auth/exposure.ts';
import { type AuthContext, type AuthOptions, setUpAuth } from './auth/setup-auth.ts';
import { DEFAULTS } from './defaults.ts';
import type { FaultInjector } from './faults/fault-injector.ts';
import { setUpFaults } from './faults/setup-faults.ts';
import { closeServer } from './http/close-server.ts';
import { authModeOf } from './http/local-api-routes.ts';
import { buildServer } from './http/server.ts';
import { createLogger, type Logger, wantsPrettyLogs } from './log.ts';
import type { PostgresDeployment } from './runs/postgres-deployment.ts';
import { recoverInterruptedRuns } from './runs/recover-interrupted.ts';
import type { Run } from './runs/run.ts';
import { RunMetrics } from './runs/run-metrics.ts';
import { type DescribeOutcome, runOutcome } from './runs/run-outcome.ts';
import type { RunRepository } from './runs/run-repository.ts';
import { retainRuns } from './runs/run-retention.ts';
import { RunService } from './runs/run-service.ts';
import { SqliteRunRepository } from './runs/sqlite-run-repository.ts';
import { WebhookSender } from './runs/webhooks.ts';

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
  /** Bytes of params (request bodies) that runs waiting in one app's queue may hold before 429 (default 256 MiB). */
  maxQueueBytes?: number;
  /** How long a client has to send a whole request before 408 or a closed connection (default 60000 ms; 0: no limit). */
  requestTimeoutMs?: number;
  /** How long a stream's client may go without reading before the stream ends and its run is cancelled (default 60000 ms). */
  streamStallMs?: number;
  /** How long an aborted function (timed out, or its caller left) gets before its replica is replaced. */
  abortGraceMs?: number;
  sseHeartbeatMs?: number;
  exposeErrorStacks?: boolean;
  /** JWT keys for apps with disable_auth = false; a dev secret is generated when none is given. */
  auth?: AuthOptions;
  /** Folder of the run store (runs.sqlite); runs are kept in memory only when absent. */
  dataDir?: string;
  /** postgres://…: runs are kept in this database, shared with every server on it (one deployment), not in SQLite. */
  databaseUrl?: string;
  /** With databaseUrl: how long this server holds its unfinished runs without renewing (default 15000 ms). */
  runLeaseMs?: number;
  /** With databaseUrl: how often the shared queue is looked at without a NOTIFY (default 1000 ms). */
  queuePollMs?: number;
  /** Wait between webhook attempts (default 5000 ms, as on Cerebrium). */
  webhookRetryDelayMs?: number;
  /** How long one webhook attempt may take (default 10000 ms). */
  webhookTimeoutMs?: number;
  /** On close, how long accepted runs and webhooks get to finish (default 30000 ms). */
  shutdownGraceMs?: number;
  /** Delete finished runs older than this many days from the run store (default 7; 0 keeps them). */
  retainRunsDays?: number;
  /** Keep at most this many runs per app, deleting the oldest finished ones (default 10000; 0: no limit). */
  retainRuns?: number;
  /** Store results larger than this many bytes cut to it, flagged as truncated (default 16 MiB). */
  maxStoredResultBytes?: number;
  /** Refuse bodies nested deeper than this with 400 json_too_deep (default 512). */
  maxJsonDepth?: number;
  /** Reload an app when its cerebrium.toml, main.*, functions/ or models/ change. */
  watch?: boolean;
  /** Where the start-up banner goes (function URLs); nowhere when absent. */
  print?: (line: string) => void;
  /** The interpreter for Python apps (default python3 on PATH). */
  python?: string;
  /** How often a custom runtime's healthcheck_endpoint is polled (default 5000 ms). */
  healthcheckIntervalMs?: number;
  /**
   * Install each Python app's [cerebrium.dependencies.pip] into a virtual environment of its own,
   * `<dataDir>/venvs/<app>-<hash>` (dataDir defaulting to .cerebrium-local), and run the app on it.
   */
  installDeps?: boolean;
  /** cuda, webgpu or cpu: overrides the provider [cerebrium.hardware].compute picks for model sessions. */
  executionProvider?: string;
  /** --strict-provider: a GPU provider that cannot be used fails the model load instead of falling back. */
  strictProvider?: boolean;
  /** --pass-env: the server's variables replicas get besides PATH, HOME, LANG, LC_*, TZ, TMPDIR and NODE_ENV. */
  passEnv?: string[];
  /** --webhook-deny-private: refuse webhooks to loopback and private addresses too (link-local always is). */
  webhookDenyPrivate?: boolean;
  /** --allow-faults: honour the x-cerebrium-local-fault header and serve /_local/faults (docs/testing-your-client.md). */
  allowFaults?: boolean;
  /** --faults FILE: server-wide fault rules (TOML); reloaded with `watch`. */
  faultsFile?: string;
  /** --faults-seed: the seed of the fault rules' draws (random when absent). */
  faultsSeed?: number;
  /** Serve the dashboard at / and /dashboard (default true; --no-dashboard turns it off). */
  dashboard?: boolean;
  /** How much of what a function logs is kept with its run (default: the last 1,000 lines, 256 KiB). */
  runLogBounds?: { maxLines: number; maxBytes: number };
}

export interface RunningServer {
  server: FastifyInstance;
  registry: AppRegistry;
  logger: Logger;
  /** The SQLite run store (tests fill it through setMaxPageCount to see a full disk); throws on a server with databaseUrl. */
  readonly runStore: SqliteRunRepository;
  /** The run store in use, SQLite or Postgres. */
  runRepository: RunRepository;
  /** http://host:port, with the port actually bound. */
  url: string;
  /** Resolves when every app's functions are loaded (rejects if one fails to load). */
  loaded: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const pretty = options.logDestination ? false : wantsPrettyLogs();
  const logger = createLogger({ level: options.logLevel, pretty, destination: options.logDestination });
  const registry = makeRegistry(options, logger, pretty);
  const warnings = await registry.loadConfigs(options.appDirs);
  for (const warning of warnings) logger.warn(warning);
  const authContext = { projectId: options.projectId, dataDir: options.dataDir };
  // A live view of the configs: a --watch reload that renames an app or flips disable_auth is followed.
  const auth = await setUpAuth(() => registry.appConfigs, options.auth ?? {}, authContext);
  for (const warning of auth.warnings) logger.warn(warning);

  const exposeErrorStacks = options.exposeErrorStacks ?? process.env.NODE_ENV !== 'production';
  const describe = (run: Run) => runOutcome(run, exposeErrorStacks);
  const store = await openRunStore(options, logger);
  const { deployment, repository } = store;
  const webhooks = new WebhookSender({
    repository,
    describe,
    log: logger,
    retryDelayMs: options.webhookRetryDelayMs ?? DEFAULTS.webhookRetryDelayMs,
    timeoutMs: options.webhookTimeoutMs ?? DEFAULTS.webhookTimeoutMs,
    denyPrivate: options.webhookDenyPrivate ?? false,
  });
  const metrics = new RunMetrics(registry);
  const faults = await setUpFaults(options, metrics.registry, logger);
  const runs = makeRunService({ registry, repository, webhooks, logger, metrics, describe, faults: faults.injector, deployment }, options);
  const server = makeHttpServer({ registry, runs, metrics, logger, exposeErrorStacks, auth: auth.auth, faults: faults.injector }, options);
  const url = await listen(server, options, store);
  // One of a deployment: take queued async runs (once the apps are loaded) and hear cancels.
  await deployment?.start(runs, () => registry.names);
  for (const line of auth.banner) options.print?.(line);
  const exposed = publicAppsWarning(options.host, registry.appConfigs);
  if (exposed) logger.warn(exposed);

  let watcher: AppWatcher | undefined;
  const loaded = registry.loadFunctions().then(() => {
    if (options.print) printFunctionUrls(options.print, registry, url, options.projectId);
    if (options.dashboard !== false) options.print?.(`Dashboard: ${url}/`);
    if (options.watch) watcher = watchApps(registry, options.appDirs, logger, options.print, { auth: auth.auth, context: authContext });
    deployment?.wakeAll();
  });
  // The caller decides what a load failure means; this keeps it from being unhandled meanwhile.
  loaded.catch(() => undefined);

  const shutdownGraceMs = options.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs;
  const parts: ServerParts = { server, registry, runs, webhooks, store, logger, shutdownGraceMs };
  return {
    server,
    registry,
    logger,
    get runStore() {
      if (!(repository instanceof SqliteRunRepository))
        throw new Error('this server keeps its runs in Postgres (--database-url): see runRepository');
      return repository;
    },
    runRepository: repository,
    url,
    loaded,
    close: () => closeParts(parts, () => watcher?.close(), faults.stop),
  };
}

function makeRegistry(options: ServeOptions, logger: Logger, prettyLogs: boolean): AppRegistry {
  return new AppRegistry({
    projectId: options.projectId,
    logLevel: options.logLevel,
    prettyLogs,
    maxQueue: options.maxQueue ?? DEFAULTS.maxQueue,
    maxQueueBytes: options.maxQueueBytes ?? DEFAULTS.maxQueueBytes,
    abortGraceMs: options.abortGraceMs ?? DEFAULTS.abortGraceMs,
    executionProvider: options.executionProvider,
    strictProvider: options.strictProvider,
    passEnv: options.passEnv,
    python: options.python ?? DEFAULTS.python,
    healthcheckIntervalMs: options.healthcheckIntervalMs ?? DEFAULTS.healthcheckIntervalMs,
    log: logger,
    installDeps: options.installDeps ? { dataDir: options.dataDir ?? DEFAULTS.dataDir } : undefined,
  });
}

/** What the run service and the HTTP server are made from. */
interface ServiceParts {
  registry: AppRegistry;
  logger: Logger;
  metrics: RunMetrics;
  faults: FaultInjector | undefined;
}

function makeRunService(
  parts: ServiceParts & {
    repository: RunRepository;
    webhooks: WebhookSender;
    describe: DescribeOutcome;
    deployment: PostgresDeployment | undefined;
  },
  options: ServeOptions,
): RunService {
  return new RunService({
    apps: parts.registry,
    repository: parts.repository,
    webhooks: parts.webhooks,
    log: parts.logger,
    metrics: parts.metrics,
    describe: parts.describe,
    maxStoredResultBytes: options.maxStoredResultBytes ?? DEFAULTS.maxStoredResultBytes,
    logBounds: options.runLogBounds,
    faults: parts.faults,
    asyncQueue: parts.deployment?.queue,
    peers: parts.deployment?.queue,
  });
}

function makeHttpServer(
  parts: ServiceParts & { runs: RunService; exposeErrorStacks: boolean; auth: AppAuth },
  options: ServeOptions,
): FastifyInstance {
  const { faults, auth } = parts;
  return buildServer({
    registry: parts.registry,
    runs: parts.runs,
    metrics: parts.metrics,
    logger: parts.logger,
    bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit,
    exposeErrorStacks: parts.exposeErrorStacks,
    sseHeartbeatMs: options.sseHeartbeatMs ?? DEFAULTS.sseHeartbeatMs,
    maxJsonDepth: options.maxJsonDepth ?? DEFAULTS.maxJsonDepth,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    streamStallMs: options.streamStallMs ?? DEFAULTS.streamStallMs,
    auth,
    faults: faults && options.allowFaults ? { injector: faults, projectId: options.projectId } : undefined,
    faultInjector: faults,
    dashboard:
      options.dashboard === false
        ? undefined
        : { projectId: options.projectId, authMode: authModeOf(options.auth, auth.hasChecker), dataDir: options.dataDir ?? null },
  });
}

/** Where runs are kept: SQLite, or a deployment's Postgres; runs a stopped server left are marked failed, old ones pruned. */
interface RunStore {
  repository: RunRepository;
  deployment: PostgresDeployment | undefined;
  stopPruning: () => void;
}

async function openRunStore(options: ServeOptions, logger: Logger): Promise<RunStore> {
  const deployment = options.databaseUrl === undefined ? undefined : await openDeployment(options, options.databaseUrl, logger);
  const repository: RunRepository = deployment?.repository ?? SqliteRunRepository.open({ dataDir: options.dataDir, log: logger });
  const interrupted = await recoverInterruptedRuns(repository);
  if (interrupted > 0) {
    logger.warn({ runs: interrupted, store: repository.location }, 'runs left unfinished by a server that stopped are marked as failed');
  }
  const retention = { days: options.retainRunsDays ?? DEFAULTS.retainRunsDays, perApp: options.retainRuns ?? DEFAULTS.retainRuns };
  return { repository, deployment, stopPruning: retainRuns(retention, repository, logger) };
}

/** Listens, and answers the URL with the port actually bound; a failure releases the run store first. */
async function listen(server: FastifyInstance, options: ServeOptions, store: RunStore): Promise<string> {
  try {
    await server.listen({ host: options.host, port: options.port });
  } catch (err) {
    // Release the data dir's lock, so a retry in this process (or another server) can open it.
    store.stopPruning();
    await store.repository.close();
    throw err;
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return `http://${shownHost}:${port}`;
}

interface ServerParts {
  server: FastifyInstance;
  registry: AppRegistry;
  runs: RunService;
  webhooks: WebhookSender;
  store: RunStore;
  logger: Logger;
  shutdownGraceMs: number;
}

/** Stops taking calls, lets accepted runs and webhooks drain, then stops replicas and the store. */
async function closeParts(parts: ServerParts, stopWatching: () => void, stopFaults: () => void): Promise<void> {
  const { server, registry, runs, webhooks, store, logger, shutdownGraceMs } = parts;
  stopWatching();
  stopFaults();
  // New calls get 503 while accepted runs (sync, streams, async) finish; then the listener closes,
  // which waits for their responses to be written until the grace ends, then closes every connection.
  registry.draining = true;
  store.deployment?.stopTaking();
  const graceEndsAt = Date.now() + shutdownGraceMs;
  const unfinished = await runs.drain(shutdownGraceMs);
  await closeServer(server, graceEndsAt);
  if (unfinished.length > 0) {
    logger.warn({ runs: unfinished.length }, 'runs still unfinished at shutdown; the next start marks them as failed');
  }
  await webhooks.close(shutdownGraceMs);
  await registry.close();
  store.stopPruning();
  // Leases are renewed until here, so another server takes over none of the runs that drained.
  await store.deployment?.close();
  await store.repository.close();
}

/** --database-url: this server joins the deployment on that database (migrations applied at start). */
async function openDeployment(options: ServeOptions, databaseUrl: string, log: Logger): Promise<PostgresDeployment> {
  // Imported only here: a server on SQLite (the default) never loads pg and the Postgres store.
  const { PostgresDeployment } = await import('./runs/postgres-deployment.ts');
  return PostgresDeployment.open({
    databaseUrl,
    leaseMs: options.runLeaseMs ?? DEFAULTS.runLeaseMs,
    queuePollMs: options.queuePollMs ?? DEFAULTS.queuePollMs,
    log,
  });
}

function watchApps(
  registry: AppRegistry,
  dirs: string[],
  logger: Logger,
  print: ((line: string) => void) | undefined,
  auth: { auth: AppAuth; context: AuthContext },
): AppWatcher {
  const watcher = new AppWatcher(registry, {
    async beforeSwap(next) {
      // A token must be checkable before an app turns locked: the dev secret when no key was given.
      for (const line of await prepareAuthReload(auth.auth, next, auth.context)) print?.(line);
    },
    reloaded(appName, warnings, { previous, next }) {
      for (const warning of warnings) logger.warn(warning);
      const notice = authChangeNotice(previous, next);
      if (notice) logger[notice.level]({ app: appName }, notice.message);
      logger.info({ app: appName }, 'app reloaded');
      print?.(`Reloaded app "${appName}"`);
    },
    failed(dir, err) {
      // The old code keeps serving; say why the new code was not taken.
      const detail = err instanceof Error ? err.message : String(err);
      logger.error({ dir, err }, 'reload failed; the app keeps serving its previous code');
      print?.(`Reload of ${dir} failed, still serving the previous code:\n${detail}`);
    },
  });
  for (const dir of dirs) watcher.watch(dir);
  return watcher;
}

function printFunctionUrls(print: (line: string) => void, registry: AppRegistry, url: string, projectId: string): void {
  for (const app of registry.list()) {
    const functions = AppRegistry.publicFunctions(app);
    const where = relative(process.cwd(), app.config.file) || app.config.file;
    if (app.custom) {
      print(`App "${app.config.name}" (${where}): a custom runtime (${app.custom.argv.join(' ')}); every method and path is forwarded`);
      print(`  ANY  ${url}/v4/${projectId}/${app.config.name}/<path>`);
      continue;
    }
    print(`App "${app.config.name}" (${where}): ${functions.length} function${functions.length === 1 ? '' : 's'}`);
    for (const fn of functions) {
      const streams = fn.kind === 'function' ? '' : '  (streams with Accept: text/event-stream)';
      print(`  POST ${url}/v4/${projectId}/${app.config.name}/${fn.name}${streams}`);
    }
  }
  print('Each URL is also an OpenAI SDK baseURL: …/chat/completions and …/embeddings are served under it.');
  print(`Runs: ${url}/v2/projects/${projectId}/apps/${projectId}-<app>/runs · metrics: ${url}/metrics · ${url}/openapi.json`);
  print(`Ready on ${url}`);
}
