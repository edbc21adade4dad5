// The runs API, shaped like Cerebrium's management API but served here beside /v4:
//   GET  /v2/projects/:projectId/apps/:appId/runs/:runId         → {"item": Run}
//   GET  /v2/projects/:projectId/apps/:appId/runs?asyncOnly=true → {"items": [Run without result], "nextToken"}
//        (and, as filters of this emulator's, &status=STATE and &functionName=NAME)
//   POST /v2/projects/:projectId/apps/:appId/runs/:runId/cancel  → {"item": Run}
// where appId is "{projectId}-{appName}". Newest runs come first, at most 100 a page; as on the
// real management API a page carries no results (they can be megabytes each): GET one run for it.
import type { FastifyInstance } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import type { RunStatus } from '../runs/run.ts';
import type { StoredRun, WebhookAttempt } from '../runs/run-repository.ts';
import type { RunListItem, RunRecord, RunRef, RunService } from '../runs/run-service.ts';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 100;

export interface AppParams {
  projectId: string;
  appId: string;
}

export interface RunParams extends AppParams {
  runId: string;
}

interface ListQuery {
  asyncOnly?: string;
  limit?: string;
  nextToken?: string;
  // Filters of this emulator's (the dashboard's); Cerebrium's runs API has asyncOnly only.
  status?: string;
  functionName?: string;
}

const RUN_STATES: readonly RunStatus[] = ['pending', 'running', 'success', 'failure', 'cancelled'];

function statusFilter(raw: string | undefined): RunStatus | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(RUN_STATES as readonly string[]).includes(raw)) {
    throw new CerebriumLocalError('invalid_run_filter', `status must be one of ${RUN_STATES.join(', ')}, got "${raw}"`);
  }
  return raw as RunStatus;
}

/** A run as the API shows it: the reference's fields, then result (not in list pages), error and webhook attempts. */
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
  /** The function's result; when `resultTruncated`, the beginning of its JSON text, as a string. Absent from list pages. */
  result?: unknown;
  /** The result was larger than --max-stored-result-bytes and only its beginning was stored. */
  resultTruncated: boolean;
  error: Record<string, unknown> | null;
  /** The faults injected into the run (docs/testing-your-client.md), e.g. "status=503"; null for a run left alone. */
  fault: string | null;
  webhookAttempts?: Array<Omit<WebhookAttempt, 'at'> & { at: string }>;
}

/** There is one region here; the name says where the run really happened. */
const REGION = 'local';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** One run with its result, as GET of that run and cancel answer it. */
function toApiRunWithResult(run: RunRecord): ApiRun {
  const { resultJson, resultTruncated } = run;
  const result = resultJson === null ? null : resultTruncated ? resultJson : (JSON.parse(resultJson) as unknown);
  const { error, webhookAttempts, ...head } = toApiRun(run);
  const item: ApiRun = { ...head, result, resultTruncated, error };
  if (webhookAttempts) item.webhookAttempts = webhookAttempts;
  return item;
}

function toApiRun(run: RunListItem): ApiRun {
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
    resultTruncated: run.resultTruncated,
    error: run.errorJson === null ? null : (JSON.parse(run.errorJson) as Record<string, unknown>),
    fault: run.fault ?? null,
  };
  if (run.webhookAttempts) {
    item.webhookAttempts = run.webhookAttempts.map((a) => ({ ...a, at: new Date(a.at).toISOString() }));
  }
  return item;
}

/** "{projectId}-{appName}" → appName. */
function appNameOf({ projectId, appId }: AppParams): string {
  const prefix = `${projectId}-`;
  if (!appId.startsWith(prefix) || appId.length === prefix.length) {
    throw new CerebriumLocalError('app_not_found', `App id "${appId}" is not of the form "${projectId}-<appName>"`);
  }
  return appId.slice(prefix.length);
}

/** The run a path of the runs API names (the logs route reads it the same way). */
export function runRef(params: RunParams): RunRef {
  return { projectId: params.projectId, appName: appNameOf(params), runId: params.runId };
}

function pageSize(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw new CerebriumLocalError('invalid_limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got "${raw}"`);
  }
  return n;
}

// A page token is the position of the last run shown, opaque to callers.
const encodeToken = (seq: number) => Buffer.from(`seq:${seq}`).toString('base64url');

function decodeToken(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const match = /^seq:(\d+)$/.exec(Buffer.from(raw, 'base64url').toString());
  if (!match) throw new CerebriumLocalError('invalid_next_token', 'nextToken is not one this server gave out');
  return Number(match[1]);
}

export function registerRunsRoutes(server: FastifyInstance, runs: RunService): void {
  const base = '/v2/projects/:projectId/apps/:appId/runs';

  server.get<{ Params: RunParams }>(`${base}/:runId`, async (request) => ({
    item: toApiRunWithResult(await runs.get(runRef(request.params))),
  }));

  server.get<{ Params: AppParams; Querystring: ListQuery }>(base, async (request) => {
    const { asyncOnly, limit, nextToken, status, functionName } = request.query;
    const size = pageSize(limit);
    const records = await runs.list({
      projectId: request.params.projectId,
      appName: appNameOf(request.params),
      asyncOnly: asyncOnly === 'true',
      limit: size + 1,
      before: decodeToken(nextToken),
      status: statusFilter(status),
      functionName: functionName === '' ? undefined : functionName,
    });
    const page = records.slice(0, size);
    const more = records.length > size;
    return {
      items: page.map(toApiRun),
      nextToken: more ? encodeToken(page[page.length - 1].seq) : null,
    };
  });

  server.post<{ Params: RunParams }>(`${base}/:runId/cancel`, async (request) => ({
    item: toApiRunWithResult(await runs.cancel(runRef(request.params))),
  }));
}
