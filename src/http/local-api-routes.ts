// What the dashboard reads that the Cerebrium-shaped API has no place for, under /_local/:
//   GET /_local/settings  → the server's project, auth mode, data dir and fault injection (null when off)
//   GET /_local/apps      → each app with its functions (kind, params schema) and replica numbers
//   GET /_local/replicas  → each app's replica samples over the last minutes
//   GET /_local/projects/:p/apps/:p-:app/runs/:id/params → the params a run was called with
//   GET /_local/events    → SSE: `run` on every run transition, `replicas` on every sample
// With a key source configured, every one needs a token for the server's project, as the runs API
// does. Without one, a locked app (and its runs) is shown only to a caller with a valid token.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppRegistry, type LoadedApp } from '../apps/app-registry.ts';
import type { AppAuth } from '../auth/auth-hook.ts';
import type { AuthOptions } from '../auth/setup-auth.ts';
import type { FaultInjector } from '../faults/fault-injector.ts';
import type { Run } from '../runs/run.ts';
import { runError } from '../runs/run-outcome.ts';
import type { RunService } from '../runs/run-service.ts';
import { EventStream } from './event-stream.ts';
import type { ReplicaHistory } from './replica-history.ts';
import { type RunParams, runRef } from './runs-routes.ts';

/** What the settings panel shows. */
export interface DashboardSettings {
  projectId: string;
  /** How tokens are checked: "none", "dev secret", "--jwt-secret", … */
  authMode: string;
  /** Where runs are kept; null when in memory only. */
  dataDir: string | null;
}

/** The auth mode, as the settings panel names it. */
export function authModeOf(options: AuthOptions | undefined, hasChecker: boolean): string {
  if (options?.jwtSecret) return '--jwt-secret (every route of the runs API and the dashboard need a token)';
  if (options?.jwtPublicKeyFile) return '--jwt-public-key (every route of the runs API and the dashboard need a token)';
  if (options?.jwks) return '--jwks (every route of the runs API and the dashboard need a token)';
  if (options?.insecureSkipSignature) return '--insecure-skip-signature (signatures NOT checked)';
  return hasChecker ? 'dev secret (locked apps only)' : 'none (every app is public)';
}

export interface LocalApiDeps {
  registry: AppRegistry;
  runs: RunService;
  auth: AppAuth | undefined;
  history: ReplicaHistory;
  settings: DashboardSettings;
  heartbeatMs: number;
  /** Fault injection, when on (--allow-faults or --faults): the settings show it, read live (PUT /_local/faults changes it). */
  faults?: FaultInjector;
}

/** A run as the event stream shows it: the runs API's list fields, and its app. */
function eventRun(run: Run) {
  const statusCode = !run.done ? null : run.status === 'success' ? (run.statusCode ?? 200) : runError(run, false).statusCode;
  return {
    id: run.id,
    projectId: run.projectId,
    appName: run.appName,
    functionName: run.functionName,
    status: run.status,
    statusCode,
    async: run.async,
    webhookEndpoint: run.webhookEndpoint ?? null,
    createdAt: run.createdAt.toISOString(),
    completedAt: run.completedAt?.toISOString() ?? null,
    runtimeMs: run.runTimeMs ?? null,
    queueTimeMs: run.done || run.status === 'running' ? (run.queueTimeMs ?? null) : null,
  };
}

function appView(app: LoadedApp, projectId: string, locked: boolean) {
  return {
    name: app.config.name,
    projectId,
    locked,
    custom: app.custom !== undefined,
    functions: AppRegistry.publicFunctions(app).map((fn) => ({
      name: fn.name,
      kind: fn.kind,
      paramsSchema: fn.paramsSchema ?? null,
      description: fn.description ?? null,
    })),
    stats: app.runtime.stats,
  };
}

export function registerLocalApi(server: FastifyInstance, deps: LocalApiDeps): void {
  const visibility = visibilityFor(deps.auth);
  server.register(async (scope) => {
    const { auth } = deps;
    if (auth?.runsNeedToken) requireProjectToken(scope, auth, deps.settings);
    registerSettingsAndApps(scope, deps, visibility);
    registerRunParams(scope, deps.runs);
    registerReplicasAndEvents(scope, deps, visibility);
  });
}

/** For a request: which apps its caller may see. */
type Visibility = (request: FastifyRequest) => Promise<(appName: string) => boolean>;

/** Which apps this caller may see: all with a token (or no auth at all), else the public ones. */
function visibilityFor(auth: AppAuth | undefined): Visibility {
  return async (request: FastifyRequest) => {
    const seesLocked = auth === undefined || auth.runsNeedToken || (await auth.hasValidToken(request));
    return (appName: string) => seesLocked || !auth?.requiresAuth(appName);
  };
}

function requireProjectToken(scope: FastifyInstance, auth: AppAuth, settings: DashboardSettings): void {
  // The same check the runs API gets with a key source: a token for the server's project.
  scope.addHook('onRequest', async (request, reply) => {
    await auth.authorize(request, reply, { appName: '', projectId: settings.projectId, always: true });
  });
}

function registerSettingsAndApps(scope: FastifyInstance, deps: LocalApiDeps, visibility: Visibility): void {
  const { registry, auth, settings } = deps;
  // A server that fails calls on purpose says so where its operator looks.
  scope.get('/_local/settings', async () => ({ ...settings, faults: deps.faults?.describe() ?? null }));

  scope.get('/_local/apps', async (request) => {
    const visible = await visibility(request);
    const apps = registry.ready ? registry.list() : [];
    return {
      loading: !registry.ready,
      items: apps
        .filter((app) => visible(app.config.name))
        .map((app) => appView(app, settings.projectId, auth?.requiresAuth(app.config.name) ?? false)),
    };
  });
}

function registerRunParams(scope: FastifyInstance, runs: RunService): void {
  // The params a run was called with, which the Cerebrium-shaped runs API does not show. The path
  // names the app as the runs API does, so the auth hook guards it the same way.
  scope.get<{ Params: RunParams }>('/_local/projects/:projectId/apps/:appId/runs/:runId/params', async (request) => {
    const run = await runs.get(runRef(request.params));
    try {
      return { params: JSON.parse(run.paramsJson) as unknown };
    } catch {
      return { params: run.paramsJson };
    }
  });
}

function registerReplicasAndEvents(scope: FastifyInstance, deps: LocalApiDeps, visibility: Visibility): void {
  const { runs, history } = deps;
  scope.get('/_local/replicas', async (request) => {
    const visible = await visibility(request);
    const all = history.all();
    return { items: Object.fromEntries(Object.entries(all).filter(([app]) => visible(app))) };
  });

  scope.get('/_local/events', async (request, reply) => {
    const visible = await visibility(request);
    const stream = new EventStream(reply, deps.heartbeatMs);
    stream.onEnd(
      runs.watch((run) => {
        if (visible(run.appName)) stream.send('run', eventRun(run));
      }),
    );
    stream.onEnd(
      history.listen((app, sample) => {
        if (visible(app)) stream.send('replicas', { app, sample });
      }),
    );
  });
}
