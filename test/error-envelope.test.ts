// Errors raised before a route runs (by the HTTP layer itself) leave in the same envelope, with a
// code from the catalogue, as every other error does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('basic-app')]);
});

afterAll(async () => {
  await server.close();
});

describe('errors before a route runs', () => {
  it('answers a Content-Type that cannot be parsed with 415 unsupported_media_type', async () => {
    const res = await server.post('/v4/p-test/basic/plain', '{}', { 'content-type': 'not a media type' });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(body.error).toMatchObject({ code: 'unsupported_media_type', type: 'invalid_request_error' });
  });

  it('answers a path with broken percent-encoding with 400 bad_request in the envelope', async () => {
    const res = await fetch(`${server.url}/v4/p-test/%zz/plain`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'bad_request', type: 'invalid_request_error' });
    expect(body.error.message).not.toBe('');
  });
});
