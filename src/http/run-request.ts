// What the routes that call a function share: the path and query they take, and how a request
// becomes the run service's RunRequest (the body as params, ?async=, ?webhookEndpoint= and
// X-Webhook-Secret), with a 400 for anything malformed.

import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import type { RunRequest, RunService } from '../runs/run-service.ts';
import { faultHeader } from './fault-reply.ts';
import { bodyAsParams, bodyText } from './json-body.ts';

export interface FunctionPath {
  projectId: string;
  appName: string;
  functionName: string;
}

export interface RunQuery {
  /** "true": answer 202 {run_id} at once and run in the background. */
  async?: string;
  /** Where the outcome is POSTed when the run ends. */
  webhookEndpoint?: string;
}

export interface FunctionRoute {
  Params: FunctionPath;
  Querystring: RunQuery;
}

export interface ParsedRunRequest {
  request: RunRequest;
  async: boolean;
}

/** Async only for a webhook: its host is resolved, so a name pointing at a refused address is a 400 now. */
export async function parseRunRequest(req: FastifyRequest<FunctionRoute>, runs: RunService): Promise<ParsedRunRequest> {
  const { projectId, appName, functionName } = req.params;
  const params = bodyAsParams(req.body);
  const async = asyncFlag(req.query.async);
  const request: RunRequest = { projectId, appName, functionName, params, paramsBytes: bodyBytes(req.headers) };
  const paramsJson = bodyText(req.body);
  if (paramsJson !== undefined) request.paramsJson = paramsJson;
  const fault = runs.faultsFor(appName, functionName, faultHeader(req.headers));
  if (fault) request.fault = fault;
  if (req.query.webhookEndpoint !== undefined) {
    request.webhook = await runs.webhookTarget(req.query.webhookEndpoint, webhookSecret(req.headers));
  }
  return { request, async };
}

/** `?async=`: true or false (1 or 0); anything else is a mistake worth saying, not a sync call. */
function asyncFlag(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new CerebriumLocalError('invalid_async', `async must be true or false, got "${value}"`);
}

/** The body's size as sent, the cheap measure of what its params hold in memory (0 when not declared: chunked). */
function bodyBytes(headers: IncomingHttpHeaders): number {
  const length = Number(headers['content-length']);
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}

function webhookSecret(headers: IncomingHttpHeaders): string | undefined {
  const secret = headers['x-webhook-secret'];
  return typeof secret === 'string' && secret !== '' ? secret : undefined;
}
