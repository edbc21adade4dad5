// Python functions whose parameters are pydantic models (test/fixtures/python-pydantic-app): the
// model's JSON Schema is checked by the server (a 422 naming the key), the function gets an instance
// made by Model.model_validate. A duck-typed model class, in an app that cannot import pydantic, is
// served the same way.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

// The interpreter behind `python3`, found once (a pyenv shim costs much more per process start).
const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
const python = found.status === 0 && found.stdout.trim() !== '' ? found.stdout.trim() : undefined;
const hasPydantic =
  python !== undefined && spawnSync(python, ['-c', 'import pydantic; assert pydantic.VERSION >= "2"'], { encoding: 'utf8' }).status === 0;
if (python === undefined) console.warn('python3 is not on PATH: the tests in test/python-pydantic.test.ts are skipped');
else if (!hasPydantic) console.warn('pydantic v2 is not importable by python3: the pydantic-model tests are skipped');

interface Envelope<T = unknown> {
  run_id: string;
  result: T;
  error: { type: string; code: string; name?: string; message: string; params?: Array<{ key: string; problem: string }> };
}

async function call<T = unknown>(
  server: TestServer,
  app: string,
  fn: string,
  body: unknown,
): Promise<{ status: number; body: Envelope<T> }> {
  const res = await server.post(`/v4/p-test/${app}/${fn}`, body);
  return { status: res.status, body: (await res.json()) as Envelope<T> };
}

const keysOf = (body: Envelope) => (body.error.params ?? []).map((p) => p.key).sort();

describe.skipIf(!hasPydantic)('pydantic model parameters', () => {
  const APP = 'py-pydantic';
  let server: TestServer;
  const post = <T = unknown>(fn: string, body: unknown) => call<T>(server, APP, fn, body);

  beforeAll(async () => {
    server = await startTestServer([fixture('python-pydantic-app')], { python });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('a body that fits the model reaches the function as a model instance', async () => {
    const { status, body } = await post('describe', { item: { name: 'lamp', price: 2.5, tags: [{ label: 'home-1' }] }, quantity: 2 });
    expect(status).toBe(200);
    expect(body.result).toEqual({
      type: '_Item',
      name: 'lamp',
      total: 5,
      tags: ['_Tag:home-1'],
      made: null,
      fields_set: ['name', 'price', 'tags'],
    });
  });

  it("the model's defaults are its own: the server adds none (a None default that is not a datetime is no 422)", async () => {
    const { status, body } = await post<{ fields_set: string[]; made: number | null }>('describe', { item: { name: 'lamp', price: 1 } });
    expect(status).toBe(200);
    expect(body.result.fields_set).toEqual(['name', 'price']);
    expect(body.result.made).toBeNull();
    const dated = await post<{ made: number }>('describe', { item: { name: 'lamp', price: 1, made: '2024-05-01T12:00:00Z' } });
    expect(dated.status).toBe(200);
    expect(dated.body.result.made).toBe(2024);
  });

  it('a field of the wrong type is a 422 naming it', async () => {
    const { status, body } = await post('describe', { item: { name: 'lamp', price: 'free' } });
    expect(status).toBe(422);
    expect(body.error.code).toBe('invalid_params');
    expect(keysOf(body)).toEqual(['item.price']);
  });

  it('a missing required field is a 422 naming it, and so is a missing model', async () => {
    const missingField = await post('describe', { item: { price: 1 } });
    expect(missingField.status).toBe(422);
    expect(missingField.body.error.params).toEqual([{ key: 'item.name', problem: 'is required' }]);
    const missingModel = await post('describe', { quantity: 2 });
    expect(missingModel.status).toBe(422);
    expect(missingModel.body.error.params).toEqual([{ key: 'item', problem: 'is required' }]);
  });

  it("the model's constraints are checked, every problem at once, down nested models and lists", async () => {
    const { status, body } = await post('describe', {
      item: { name: 7, price: 0, tags: [{ label: 'home-1' }, { label: 'Not A Label' }, {}] },
    });
    expect(status).toBe(422);
    expect(keysOf(body)).toEqual(['item.name', 'item.price', 'item.tags.1.label', 'item.tags.2.label']);
  });

  it('a value that is not an object where the model is expected is a 422 naming the parameter', async () => {
    const { status, body } = await post('describe', { item: 'lamp' });
    expect(status).toBe(422);
    expect(keysOf(body)).toEqual(['item']);
  });

  it('an async function gets a model instance too', async () => {
    const { status, body } = await post('describe_later', { item: { name: 'desk', price: 10 } });
    expect(status).toBe(200);
    expect(body.result).toEqual({ type: '_Item', name: 'desk' });
  });

  it('Optional[Model] = None takes null or nothing, and checks an object against the model', async () => {
    expect((await post('maybe', {})).body.result).toBeNull();
    expect((await post('maybe', { item: null })).body.result).toBeNull();
    expect((await post('maybe', { item: { name: 'x', price: 1 } })).body.result).toBe('_Item');
    const bad = await post('maybe', { item: { name: 'x', price: 'x' } });
    expect(bad.status).toBe(422);
    expect(keysOf(bad.body)).toContain('item.price');
    // `item: Item = None` means the same.
    expect((await post('maybe_too', { item: null })).body.result).toBeNull();
    expect((await post('maybe_too', { item: { name: 'x', price: 1 } })).body.result).toBe('_Item');
  });

  it('a recursive model is checked at any depth', async () => {
    const tree = { value: 1, children: [{ value: 2, children: [{ value: 3 }] }, { value: 4 }] };
    const { status, body } = await post('total', { node: tree });
    expect(status).toBe(200);
    expect(body.result).toBe(10);
    const bad = await post('total', { node: { value: 1, children: [{ value: 2, children: [{ value: 'three' }] }] } });
    expect(bad.status).toBe(422);
    expect(keysOf(bad.body)).toEqual(['node.children.0.children.0.value']);
  });

  it("a check the JSON Schema cannot carry (a validator, a format) fails in model_validate: a 500 function_exception with pydantic's message", async () => {
    expect((await post('order', { request: { sku: 'ABC-1' } })).body.result).toBe('ABC-1');
    const { status, body } = await post('order', { request: { sku: 'abc-1' } });
    expect(status).toBe(500);
    expect(body.error).toMatchObject({ type: 'function_error', code: 'function_exception', name: 'ValidationError' });
    expect(body.error.message).toContain('1 validation error for _Order');
    expect(body.error.message).toContain('sku must be upper case');
    const badDate = await post('describe', { item: { name: 'lamp', price: 1, made: 'last tuesday' } });
    expect(badDate.status).toBe(500);
    expect(badDate.body.error).toMatchObject({ code: 'function_exception', name: 'ValidationError' });
    expect(badDate.body.error.message).toContain('made');
  });

  it('a returned model is its model_dump', async () => {
    const { status, body } = await post('echo_model', { name: 'chair' });
    expect(status).toBe(200);
    expect(body.result).toEqual({ name: 'chair', price: 2.5, tags: [{ label: 'a-1' }], made: null, note: null });
  });

  it("/openapi.json carries the model's schema as the parameter's", async () => {
    interface Schema {
      type?: string;
      title?: string;
      required?: string[];
      properties?: Record<string, Schema>;
      exclusiveMinimum?: number;
    }
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: Schema }> } } }>;
    };
    const schema = doc.paths['/v4/{projectId}/py-pydantic/describe'].post.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['item']);
    expect(schema.properties?.item).toMatchObject({ type: 'object', title: '_Item', required: ['name', 'price'] });
    expect(schema.properties?.item.properties?.price).toMatchObject({ type: 'number', exclusiveMinimum: 0 });
    expect(JSON.stringify(schema)).not.toContain('$ref');
  });

  it('/openapi.json stays a valid document with a recursive model, whose definitions move to components', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as Record<string, unknown>;
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
    expect(Object.keys(schemas).some((name) => name.startsWith('py-pydantic.'))).toBe(true);
  });
});

// A model class by duck type: model_json_schema and model_validate, no pydantic anywhere.
const DUCK_MAIN = `
import sys

sys.modules["pydantic"] = None  # this app runs as if pydantic were not installed


class _Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    @classmethod
    def model_json_schema(cls):
        return {
            "$defs": {"Coordinate": {"type": "integer", "minimum": 0}},
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/Coordinate"}, "y": {"$ref": "#/$defs/Coordinate"}},
            "required": ["x", "y"],
        }

    @classmethod
    def model_validate(cls, value):
        return cls(**value)


def norm(point: _Point):
    return {"type": type(point).__name__, "sum": point.x + point.y}
`;

describe.skipIf(python === undefined)('model parameters without pydantic', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cl-py-duck-'));
    writeFileSync(join(dir, 'cerebrium.toml'), '[cerebrium.deployment]\nname = "py-duck"\n');
    writeFileSync(join(dir, 'main.py'), DUCK_MAIN);
    server = await startTestServer([dir], { python });
  });

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a class with model_json_schema and model_validate is a model: checked by its schema, passed as an instance', async () => {
    const ok = await call(server, 'py-duck', 'norm', { point: { x: 1, y: 2 } });
    expect(ok.status).toBe(200);
    expect(ok.body.result).toEqual({ type: '_Point', sum: 3 });
    const bad = await call(server, 'py-duck', 'norm', { point: { x: -1 } });
    expect(bad.status).toBe(422);
    expect(keysOf(bad.body)).toEqual(['point.x', 'point.y']);
  });
});
