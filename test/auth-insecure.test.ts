// --insecure-skip-signature: real Cerebrium tokens offline. Claims are still checked; signatures
// are not, and every response of a protected app says so.

import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpAuth } from '../src/auth/setup-auth.ts';
import { algNone, anHourAgo, bearer, expectRefused, inOneHour, signWith } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const HEADER = 'x-cerebrium-local-insecure-auth';
let server: TestServer;
let foreignToken: (claims: Record<string, unknown>) => Promise<string>;

beforeAll(async () => {
  // Stands in for the dashboard's key, which this server never sees.
  const { privateKey } = await generateKeyPair('RS256');
  foreignToken = (claims) => signWith(claims, privateKey, 'RS256');
  server = await startTestServer([fixture('auth-app'), fixture('basic-app')], { auth: { insecureSkipSignature: true } });
});

afterAll(async () => {
  await server?.close();
});

const invoke = (headers: Record<string, string>) => server.post('/v4/p-test/secured/whoami', {}, headers);

describe('--insecure-skip-signature', () => {
  it('warns loudly at start', () => {
    const warning = server.logs().find((l) => String(l.msg).includes('--insecure-skip-signature'));
    expect(warning).toMatchObject({ level: 40 });
    expect(String(warning?.msg)).toMatch(/INSECURE.*NOT verified.*secured/);
  });

  it('accepts a token signed by a key it does not have, and says so in a header', async () => {
    const res = await invoke(bearer(await foreignToken({ projectId: 'p-test', exp: inOneHour() })));
    expect(res.status).toBe(200);
    expect(res.headers.get(HEADER)).toBe('signature-not-verified');
  });

  it('still checks the claims: expiry, not-before and project', async () => {
    const expired = await invoke(bearer(await foreignToken({ projectId: 'p-test', exp: anHourAgo() })));
    await expectRefused(expired, 401, 'token_expired');
    expect(expired.headers.get(HEADER)).toBe('signature-not-verified');
    await expectRefused(await invoke(bearer(await foreignToken({ projectId: 'p-test', nbf: inOneHour() }))), 401, 'token_not_yet_valid');
    await expectRefused(await invoke(bearer(await foreignToken({ projectId: 'p-other' }))), 403, 'project_mismatch');
  });

  it('still needs a token, a well-formed one, and never alg none', async () => {
    const missing = await invoke({});
    await expectRefused(missing, 401, 'missing_token', 'No Authorization token found');
    expect(missing.headers.get(HEADER)).toBe('signature-not-verified');
    await expectRefused(await invoke(bearer('x.y')), 401, 'malformed_token');
    await expectRefused(await invoke(bearer(algNone({ projectId: 'p-test' }))), 401, 'algorithm_not_allowed');
  });

  it('leaves public apps and their responses alone', async () => {
    const res = await server.post('/v4/p-test/basic/plain', {});
    expect(res.status).toBe(200);
    expect(res.headers.get(HEADER)).toBeNull();
  });

  it('will not start alongside a key', async () => {
    await expect(setUpAuth([], { insecureSkipSignature: true, jwtSecret: 's' }, { projectId: 'p-test' })).rejects.toThrow(/give it no key/);
  });
});
