// The runs API, shaped like Cerebrium's management API but served here beside /v4:
//   GET  /v2/projects/:projectId/apps/:appId/runs/:runId         → {"item": Run}
//   GET  /v2/projects/:projectId/apps/:appId/runs?asyncOnly=true → {"items": [Run], "nextToken"}
//   POST /v2/projects/:projectId/apps/:appId/runs/:runId/cancel  → {"item": Run}
// where appId is "{projectId}-{appName}". Newest runs come first.
import type { FastifyInstance } from 'fastify';
import { badRequest, CerebriumLocalError, notFound } from '../errors.ts';
import { waitAtMost } from '../runs/drain-runs.ts';
import type { RunStore, StoredRun, WebhookAttempt } from '../runs/run-store.ts';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** A cancelled run answers once it has stopped, or after this long with its state then. */
const CANCEL_WAIT_MS = 5_000;

interface AppParams {
  projectId: string;
  appId: string;
}

interface RunParams extends AppParams {
  runId: string;
}

interface ListQuery {
  asyncOnly?: string;
  limit?: string;
  nextToken?: string;
}

/** A run as the API shows it: the reference's fields, then result, error and webhook attempts. */
export interface ApiRun {
  id: string;
  functionName: string;
  status: StoredRun['status'];
  statusCode: number | null;
  async: boolean;
  webhookEndpoint: string | null;
  method: string;
  createdAt: string;
  completedAt: string | null;
  runtimeMs: number | null;
  queueTimeMs: number | null;
  region: string;
  result: unknown;
  error: Record<string, unknown> | null;
  webhookAttempts?: Array<Omit<WebhookAttempt, 'at'> & { at: string }>;
}

/** There is one region here; the name says where the run really happened. */
const REGION = 'local';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toApiRun(run: StoredRun, store: RunStore): ApiRun {
  const item: ApiRun = {
    id: run.id,
    functionName: run.functionName,
    status: run.status,
    statusCode: run.statusCode,
    async: run.async,
    webhookEndpoint: run.webhookEndpoint,
    method: run.method,
    createdAt: new Date(run.createdAt).toISOString(),
    completedAt: iso(run.completedAt),
    runtimeMs: run.runTimeMs,
    queueTimeMs: run.queueTimeMs,
    region: REGION,
    result: run.resultJson === null ? null : (JSON.parse(run.resultJson) as unknown),
    error: run.errorJson === null ? null : (JSON.parse(run.errorJson) as Record<string, unknown>),
  };
  if (run.webhookEndpoint !== null) {
    item.webhookAttempts = store.webhookAttempts(run.id).map((a) => ({ ...a, at: new Date(a.at).toISOString() }));
  }
  return item;
}

/** "{projectId}-{appName}" → appName. */
function appNameOf({ projectId, appId }: AppParams): string {
  const prefix = `${projectId}-`;
  if (!appId.startsWith(prefix) || appId.length === prefix.length) {
    throw notFound('app_not_found', `App id "${appId}" is not of the form "${projectId}-<appName>"`);
  }
  return appId.slice(prefix.length);
}

function findRun(store: RunStore, params: RunParams): StoredRun {
  const appName = appNameOf(params);
  const run = store.get(params.runId);
  if (!run || run.projectId !== params.projectId || run.appName !== appName) {
    throw notFound('run_not_found', `No run "${params.runId}" in app "${params.appId}"`);
  }
  return run;
}

function pageSize(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw badRequest('invalid_limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got "${raw}"`);
  }
  return n;
}

// A page token is the position of the last run shown, opaque to callers.
const encodeToken = (seq: number) => Buffer.from(`seq:${seq}`).toString('base64url');

function decodeToken(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const match = /^seq:(\d+)$/.exec(Buffer.from(raw, 'base64url').toString());
  if (!match) throw badRequest('invalid_next_token', 'nextToken is not one this server gave out');
  return Number(match[1]);
}

export function registerRunsRoutes(server: FastifyInstance, store: RunStore): void {
  const base = '/v2/projects/:projectId/apps/:appId/runs';

  server.get<{ Params: RunParams }>(`${base}/:runId`, async (request) => ({
    item: toApiRun(findRun(store, request.params), store),
  }));

  server.get<{ Params: AppParams; Querystring: ListQuery }>(base, async (request) => {
    const { asyncOnly, limit, nextToken } = request.query;
    const size = pageSize(limit);
    const runs = store.list({
      projectId: request.params.projectId,
      appName: appNameOf(request.params),
      asyncOnly: asyncOnly === 'true',
      limit: size + 1,
      before: decodeToken(nextToken),
    });
    const page = runs.slice(0, size);
    const more = runs.length > size;
    return {
      items: page.map((run) => toApiRun(run, store)),
      nextToken: more ? encodeToken(page[page.length - 1].seq) : null,
    };
  });

  server.post<{ Params: RunParams }>(`${base}/:runId/cancel`, async (request) => {
    const stored = findRun(store, request.params);
    const live = store.liveRun(stored.id);
    if (!live) {
      throw new CerebriumLocalError(409, 'invalid_request_error', 'run_finished', `Run "${stored.id}" has already ended (${stored.status})`);
    }
    // Cooperative: the function sees ctx.signal abort; a run still waiting for capacity never starts.
    live.requestCancel('Cancelled through the runs API');
    await waitAtMost(live.settled(), CANCEL_WAIT_MS);
    return { item: toApiRun(findRun(store, request.params), store) };
  });
}
