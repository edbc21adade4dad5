// One request of a parity file sent to a server, and what came back, made comparable: the status,
// the headers that matter, the JSON body (normalised) and its shape, or the SSE events; for an
// async call, the 202 and then the run read back from the runs API once it has ended.
import { setTimeout as sleep } from 'node:timers/promises';
import { normalise, shapeOf } from './normalise.ts';
import type { ParityRequest } from './request-file.ts';
import { parseSse } from './sse-events.ts';

/** Where requests go: `${baseUrl}/v4/${project}/${app}/${function}`. */
export interface ParityTarget {
  baseUrl: string;
  project: string;
  app: string;
  token?: string;
  /** Where the runs API is (Cerebrium: its management API host); baseUrl when absent. */
  runsBaseUrl?: string;
  /** How long an async run is waited for (ms). */
  asyncTimeoutMs?: number;
}

/** Headers whose presence (and normalised value) is part of the surface. */
export const HEADERS_THAT_MATTER = ['content-type', 'cache-control', 'x-request-id', 'retry-after', 'www-authenticate', 'allow'];

export interface ObservedEvent {
  fields: string[];
  event?: string;
  /** The data, parsed when it is JSON, normalised. */
  data: unknown;
  shape: unknown;
}

export interface Observation {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  shape?: unknown;
  /** A body that is not JSON (and not a stream), as text. */
  text?: string;
  events?: ObservedEvent[];
  /** Whether the stream ended cleanly or was cut. */
  streamEnd?: 'clean' | 'cut';
  /** The run of an async call, read back once it ended. */
  run?: { status: number; body: unknown; shape: unknown };
}

export async function exchange(target: ParityTarget, request: ParityRequest): Promise<Observation> {
  const url = new URL(`${target.baseUrl.replace(/\/$/, '')}/v4/${target.project}/${target.app}/${request.function}`);
  if (request.async) url.searchParams.set('async', 'true');
  const headers: Record<string, string> = { ...request.headers };
  if (request.body !== undefined) headers['content-type'] ??= 'application/json';
  if (request.stream) headers.accept ??= 'text/event-stream';
  if (target.token) headers.authorization ??= `Bearer ${target.token}`;
  const res = await fetch(url, {
    method: request.method ?? 'POST',
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
  const runId = res.headers.get('x-request-id') ?? undefined;
  const observation: Observation = { status: res.status, headers: headersThatMatter(res.headers, runId) };
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await readEvents(res, observation, runId);
    return observation;
  }
  const text = await res.text();
  const json = parseJson(text);
  const id = runId ?? runIdOf(json);
  if (json === undefined) observation.text = text;
  else Object.assign(observation, { body: normalise(json, id), shape: shapeOf(json) });
  if (request.async && res.status === 202 && id !== undefined) observation.run = await finalRun(target, id);
  return observation;
}

function headersThatMatter(headers: Headers, runId: string | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of HEADERS_THAT_MATTER) {
    const value = headers.get(name);
    if (value !== null) kept[name] = String(normalise(value, runId));
  }
  return kept;
}

async function readEvents(res: Response, observation: Observation, runId: string | undefined): Promise<void> {
  let text = '';
  let end: 'clean' | 'cut' = 'clean';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as ReadableStream<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  } catch {
    end = 'cut';
  }
  observation.events = parseSse(text).events.map((event) => {
    const json = parseJson(event.data);
    const data = json === undefined ? event.data : normalise(json, runId);
    const observed: ObservedEvent = { fields: event.fields, data, shape: json === undefined ? 'text' : shapeOf(json) };
    if (event.event !== undefined) observed.event = event.event;
    return observed;
  });
  observation.streamEnd = end;
}

/** Reads the run back from the runs API until it has ended (or the wait is over). */
async function finalRun(target: ParityTarget, runId: string): Promise<Observation['run']> {
  const base = (target.runsBaseUrl ?? target.baseUrl).replace(/\/$/, '');
  const url = `${base}/v2/projects/${target.project}/apps/${target.project}-${target.app}/runs/${runId}`;
  const headers: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
  const deadline = Date.now() + (target.asyncTimeoutMs ?? 60_000);
  for (;;) {
    const res = await fetch(url, { headers });
    const json = parseJson(await res.text());
    const status = (json as { item?: { status?: unknown } } | undefined)?.item?.status;
    const ended = res.status !== 200 || (status !== 'pending' && status !== 'running');
    if (ended || Date.now() > deadline) return { status: res.status, body: normalise(json, runId), shape: shapeOf(json) };
    await sleep(100);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function runIdOf(json: unknown): string | undefined {
  const id = (json as { run_id?: unknown } | undefined)?.run_id;
  return typeof id === 'string' ? id : undefined;
}
