// GET /metrics and GET /openapi.json over a real socket: the numbers follow real runs, and the
// description validates as OpenAPI and matches the bodies the server really sends.
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('basic-app'), fixture('stream-app'), fixture('openai-app')]);
});

afterAll(async () => {
  await server?.close();
});

const metricsText = async () => (await fetch(`${server.url}/metrics`)).text();

/** The value of one sample line, e.g. `name{labels} 3`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  it('counts runs by app, function and status, with duration histograms', async () => {
    const before = await metricsText();
    const okSeries = 'cerebrium_local_runs_total{app="basic",function="plain",status="success"}';
    const failSeries = 'cerebrium_local_runs_total{app="basic",function="explode",status="failure"}';
    const okBefore = sample(before, okSeries) ?? 0;
    const failBefore = sample(before, failSeries) ?? 0;

    await server.post('/v4/p-test/basic/plain', {});
    await server.post('/v4/p-test/basic/plain', {});
    await server.post('/v4/p-test/basic/explode', {});

    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const after = await res.text();
    expect(sample(after, okSeries)).toBe(okBefore + 2);
    expect(sample(after, failSeries)).toBe(failBefore + 1);
    expect(sample(after, 'cerebrium_local_run_duration_seconds_count{app="basic",function="plain"}')).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'cerebrium_local_queue_duration_seconds_count{app="basic",function="plain"}')).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'cerebrium_local_replicas{app="basic"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'cerebrium_local_busy{app="basic"}')).toBe(0);
    expect(sample(after, 'cerebrium_local_queued{app="basic"}')).toBe(0);
    expect(after).toContain('cerebrium_local_process_resident_memory_bytes');
  });

  it('counts stream events sent', async () => {
    const series = 'cerebrium_local_stream_events_total{app="streams",function="words"}';
    const before = sample(await metricsText(), series) ?? 0;
    const res = await server.post('/v4/p-test/streams/words', {}, { accept: 'text/event-stream' });
    await res.text();
    expect(sample(await metricsText(), series)).toBe(before + 3);
  });
});

describe('/openapi.json', () => {
  it('is a valid OpenAPI document listing each public function with its declared parameters', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as Record<string, unknown>;
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);

    const paths = doc.paths as Record<string, { post: Record<string, unknown> }>;
    expect(Object.keys(paths)).toContain('/v4/{projectId}/basic/plain');
    expect(Object.keys(paths)).toContain('/v4/{projectId}/streams/words');
    expect(Object.keys(paths)).not.toContain('/v4/{projectId}/basic/_secret');
    expect(Object.keys(paths)).not.toContain('/v4/{projectId}/basic/notAFunction');

    const typed = paths['/v4/{projectId}/basic/typed'].post;
    const body = typed.requestBody as {
      content: { 'application/json': { schema: { properties: Record<string, unknown>; required: string[] } } };
    };
    expect(Object.keys(body.content['application/json'].schema.properties)).toEqual(['prompt', 'max_tokens']);
    expect(body.content['application/json'].schema.required).toEqual(['prompt']);
    expect(Object.keys(typed.responses as object)).toContain('422');
    const words = paths['/v4/{projectId}/streams/words'].post.responses as Record<string, { content: object }>;
    expect(Object.keys(words['200'].content)).toContain('text/event-stream');
  });

  it('describes the bodies the server really sends', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
      components: { schemas: Record<string, object> };
    };
    const ajv = new Ajv2020({ strict: false });
    ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    ajv.addSchema({ $id: 'doc', components: doc.components });
    /** Checks a real answer against the schema the document gives for that path, method and status. */
    const matches = async (res: Response, path: string, method: string, status: number) => {
      expect(res.status).toBe(status);
      const schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']?.schema;
      expect(schema, `${method} ${path} ${status} is described`).toBeDefined();
      // Component references resolve against the document registered above.
      const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"doc#/components')) as object);
      const ok = validate(await res.json());
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    };
    const invoke = '/v4/{projectId}/basic/';
    await matches(await server.post('/v4/p-test/basic/plain', { name: 'x' }), `${invoke}plain`, 'post', 200);
    await matches(await server.post('/v4/p-test/basic/explode', {}), `${invoke}explode`, 'post', 500);
    await matches(await server.post('/v4/p-test/basic/typed', { nope: 1 }), `${invoke}typed`, 'post', 422);
    await matches(await server.post('/v4/p-test/basic/plain', '[1]'), `${invoke}plain`, 'post', 400);
    const accepted = await server.post('/v4/p-test/basic/plain?async=true', {});
    const runId = ((await accepted.clone().json()) as { run_id: string }).run_id;
    await matches(accepted, `${invoke}plain`, 'post', 202);

    const chat = '/v4/{projectId}/{appName}/{functionName}/chat/completions';
    const messages = [{ role: 'user', content: 'describe me' }];
    await matches(await server.post('/v4/p-test/oai/echo/chat/completions', { model: 'm', messages }), chat, 'post', 200);
    await matches(await server.post('/v4/p-test/oai/broken/chat/completions', { model: 'm', messages }), chat, 'post', 500);
    const embeddings = '/v4/{projectId}/{appName}/{functionName}/embeddings';
    const input = { model: 'm', input: ['a', 'b'] };
    await matches(await server.post('/v4/p-test/oai/embed_numbers/embeddings', input), embeddings, 'post', 200);
    await matches(
      await server.post('/v4/p-test/oai/embed_numbers/embedding', { ...input, encoding_format: 'base64' }),
      '/v4/{projectId}/{appName}/{functionName}/embedding',
      'post',
      200,
    );

    const run = '/v2/projects/{projectId}/apps/{appId}/runs/{runId}';
    let stored: Response;
    do stored = await fetch(`${server.url}/v2/projects/p-test/apps/p-test-basic/runs/${runId}`);
    while (((await stored.clone().json()) as { item: { status: string } }).item.status !== 'success');
    await matches(stored, run, 'get', 200);
    await matches(
      await fetch(`${server.url}/v2/projects/p-test/apps/p-test-basic/runs?limit=2`),
      '/v2/projects/{projectId}/apps/{appId}/runs',
      'get',
      200,
    );
  });
});
