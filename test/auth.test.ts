// disable_auth = false over a real socket, with an HS256 secret: every 401/403 decision, and
// that public apps, other routes and the logs are left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { algNone, anHourAgo, bearer, expectRefused, hs256, inOneHour, SECRET, tamper } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let server: TestServer;
const sentTokens: string[] = [];

beforeAll(async () => {
  server = await startTestServer([fixture('auth-app'), fixture('basic-app')], {
    logLevel: 'trace',
    auth: { jwtSecret: SECRET },
  });
});

afterAll(async () => {
  await server?.close();
});

/** Remembers every token sent, so the log check at the end can look for each. */
const call = (token: string | undefined, path = '/v4/p-test/secured/whoami', extra: Record<string, string> = {}) => {
  if (token) sentTokens.push(token);
  return server.post(path, {}, token === undefined ? extra : { ...bearer(token), ...extra });
};

describe('a valid token', () => {
  it('runs the function', async () => {
    const res = await call(await hs256({ projectId: 'p-test', exp: inOneHour() }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: unknown }).result).toEqual({ projectId: 'p-test', appName: 'secured' });
  });

  it('is accepted with a lower-case scheme and without exp', async () => {
    const token = await hs256({ projectId: 'p-test' });
    sentTokens.push(token);
    const res = await server.post('/v4/p-test/secured/whoami', {}, { authorization: `bearer ${token}` });
    expect(res.status).toBe(200);
  });

  it('streams from a generator', async () => {
    const res = await call(await hs256({ projectId: 'p-test' }), '/v4/p-test/secured/count', { accept: 'text/event-stream' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await res.text()).toContain('3');
  });
});

describe('401: no usable token', () => {
  it('no header at all', async () => {
    const res = await call(undefined);
    await expectRefused(res, 401, 'missing_token', 'No Authorization token found');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('no header on a streaming request either', async () => {
    await expectRefused(await call(undefined, '/v4/p-test/secured/count', { accept: 'text/event-stream' }), 401, 'missing_token');
  });

  it('a scheme other than Bearer, without repeating the header', async () => {
    const res = await server.post('/v4/p-test/secured/whoami', {}, { authorization: 'Basic dXNlcjpwYXNz' });
    const error = await expectRefused(res, 401, 'not_bearer', /Bearer/);
    expect(error.message).not.toContain('dXNlcjpwYXNz');
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('a token pasted without "Bearer "', async () => {
    const token = await hs256({ projectId: 'p-test' });
    sentTokens.push(token);
    const error = await expectRefused(await server.post('/v4/p-test/secured/whoami', {}, { authorization: token }), 401, 'not_bearer');
    expect(error.message).not.toContain(token.slice(0, 20));
  });

  it('"Bearer" and nothing after it', async () => {
    await expectRefused(await server.post('/v4/p-test/secured/whoami', {}, { authorization: 'Bearer ' }), 401, 'missing_token');
  });

  it('a bearer value that is not a JWT', async () => {
    await expectRefused(await call('not-a-jwt'), 401, 'malformed_token', /not a JWT/);
    await expectRefused(await call('aaa.bbb.ccc'), 401, 'malformed_token', /not a JWT/);
  });

  it('10 KB of garbage, after Bearer and on its own', async () => {
    const garbage = Array.from({ length: 10 * 1024 }, (_, i) => 'AZaz09-_.~+/'[i % 12]).join('');
    await expectRefused(await call(garbage), 401, 'malformed_token', /longer than 8192/);
    await expectRefused(await server.post('/v4/p-test/secured/whoami', {}, { authorization: garbage }), 401, 'not_bearer');
  });

  it('an unsigned token (alg: none)', async () => {
    await expectRefused(await call(algNone({ projectId: 'p-test' })), 401, 'algorithm_not_allowed', /"none" is not allowed.*HS256/);
  });

  it('a signature made with another secret', async () => {
    const token = await hs256({ projectId: 'p-test' }, 'some-other-secret-of-reasonable-length');
    await expectRefused(await call(token), 401, 'invalid_signature', /signature/);
  });

  it('a payload changed after signing', async () => {
    const genuine = await hs256({ projectId: 'p-elsewhere', exp: inOneHour() });
    const forged = tamper(genuine, { projectId: 'p-test', exp: inOneHour() });
    await expectRefused(await call(forged), 401, 'invalid_signature');
  });

  it('an expired token', async () => {
    await expectRefused(await call(await hs256({ projectId: 'p-test', exp: anHourAgo() })), 401, 'token_expired', /expired/);
  });

  it('a token not valid yet', async () => {
    const token = await hs256({ projectId: 'p-test', nbf: inOneHour() });
    await expectRefused(await call(token), 401, 'token_not_yet_valid', /not valid yet/);
  });

  it('a token without a projectId claim', async () => {
    await expectRefused(await call(await hs256({ sub: 'someone' })), 401, 'missing_project_claim', /projectId/);
  });

  it('is decided before the body is read', async () => {
    const res = await server.post('/v4/p-test/secured/whoami', '{"broken": ');
    await expectRefused(res, 401, 'missing_token');
  });
});

describe('403: a good token for another project', () => {
  it('names the path project, not the token', async () => {
    const res = await call(await hs256({ projectId: 'p-other', exp: inOneHour() }));
    const error = await expectRefused(res, 403, 'project_mismatch', /"p-test"/);
    expect(error.message).not.toContain('p-other');
  });

  it('follows the projectId in the path', async () => {
    const token = await hs256({ projectId: 'p-other' });
    expect((await call(token, '/v4/p-other/secured/whoami')).status).toBe(200);
  });
});

describe('other routes of a protected app', () => {
  it('the runs API (/v2 .../apps/{projectId}-{appName}/runs) needs the token too', async () => {
    const runs = `${server.url}/v2/projects/p-test/apps/p-test-secured/runs`;
    await expectRefused(await fetch(runs), 401, 'missing_token');
    const token = await hs256({ projectId: 'p-test' });
    sentTokens.push(token);
    expect((await fetch(runs, { headers: bearer(token) })).status).toBe(200);
    // With a key configured, a public app's runs need one as well, as on Cerebrium (test/auth-scope.test.ts).
    const publicRuns = `${server.url}/v2/projects/p-test/apps/p-test-basic/runs`;
    await expectRefused(await fetch(publicRuns), 401, 'missing_token');
    expect((await fetch(publicRuns, { headers: bearer(token) })).status).toBe(200);
  });
});

describe('what auth leaves alone', () => {
  it('apps with the default disable_auth = true stay public, token or not', async () => {
    expect((await server.post('/v4/p-test/basic/plain', {})).status).toBe(200);
    expect((await server.post('/v4/p-test/basic/plain', {}, { authorization: 'Bearer garbage' })).status).toBe(200);
  });

  it('health routes and unknown apps answer as before', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await server.post('/v4/p-test/nope/plain', {})).status).toBe(404);
  });

  it('never writes a token to the log', async () => {
    expect(sentTokens.length).toBeGreaterThan(5);
    const log = JSON.stringify(server.logs());
    for (const token of sentTokens) {
      for (const part of token.split('.').filter((p) => p.length > 8)) expect(log).not.toContain(part);
    }
  });
});
