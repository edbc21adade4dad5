// Each key source over a real socket: a PEM public key, a JWKS file and a JWKS URL on 127.0.0.1.
// The algorithm always follows from the key: HS256 made with the public key's PEM text is refused.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVerificationKey } from '../src/auth/keys.ts';
import type { AuthOptions } from '../src/auth/setup-auth.ts';
import { verifyAuthorization } from '../src/auth/verify-token.ts';
import { bearer, expectRefused, hs256, inOneHour, type KeyFiles, keyFiles, signWith, tempDir } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const tmp = tempDir();
let rsa: KeyFiles;
let ec: KeyFiles;
let ed: KeyFiles;
const servers: TestServer[] = [];

beforeAll(async () => {
  [rsa, ec, ed] = await Promise.all([keyFiles(tmp.dir, 'RS256'), keyFiles(tmp.dir, 'ES256'), keyFiles(tmp.dir, 'EdDSA')]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  tmp.remove();
});

const start = async (auth: AuthOptions) => {
  const server = await startTestServer([fixture('auth-app')], { auth });
  servers.push(server);
  return server;
};

const invoke = (server: TestServer, token: string) => server.post('/v4/p-test/secured/whoami', {}, bearer(token));

describe('--jwt-public-key (RS256 PEM)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ jwtPublicKeyFile: rsa.publicPemFile });
  });

  it('accepts a token signed with the private half', async () => {
    const res = await invoke(server, await signWith({ projectId: 'p-test', exp: inOneHour() }, rsa.privateKey, 'RS256'));
    expect(res.status).toBe(200);
  });

  it('refuses HS256 signed with the public key PEM text (algorithm confusion)', async () => {
    const forged = await hs256({ projectId: 'p-test', exp: inOneHour() }, rsa.publicPem);
    await expectRefused(await invoke(server, forged), 401, 'algorithm_not_allowed', /"HS256" is not allowed.*RS256/);
  });

  it('refuses HS256 signed with the exact bytes of the key file too', async () => {
    const forged = await hs256({ projectId: 'p-test' }, new Uint8Array(readFileSync(rsa.publicPemFile)));
    await expectRefused(await invoke(server, forged), 401, 'algorithm_not_allowed');
  });

  it('refuses a token signed by another RSA key', async () => {
    const other = await keyFiles(tmp.dir, 'RS256', 'other-rsa');
    await expectRefused(await invoke(server, await signWith({ projectId: 'p-test' }, other.privateKey, 'RS256')), 401, 'invalid_signature');
  });

  it('refuses a token for another project with 403', async () => {
    await expectRefused(await invoke(server, await signWith({ projectId: 'p-else' }, rsa.privateKey, 'RS256')), 403, 'project_mismatch');
  });
});

describe('PEM key kinds decide the algorithm', () => {
  // The same decision path the server runs, without a server per key kind.
  it.each([
    ['ES256', () => ec],
    ['EdDSA', () => ed],
  ])('%s: its own tokens pass; RS256, HS256-with-PEM and none do not', async (alg, keys) => {
    const k = keys();
    const checker = await loadVerificationKey({ jwtPublicKeyFile: k.publicPemFile });
    expect(checker?.algorithms[0]).toBe(alg);
    const ok = await signWith({ projectId: 'p-test' }, k.privateKey, alg);
    await expect(verifyAuthorization(`Bearer ${ok}`, checker!, 'p-test')).resolves.toMatchObject({ projectId: 'p-test' });
    const rs = await signWith({ projectId: 'p-test' }, rsa.privateKey, 'RS256');
    await expect(verifyAuthorization(`Bearer ${rs}`, checker!, 'p-test')).rejects.toMatchObject({
      statusCode: 401,
      code: 'algorithm_not_allowed',
    });
    const hs = await hs256({ projectId: 'p-test' }, k.publicPem);
    await expect(verifyAuthorization(`Bearer ${hs}`, checker!, 'p-test')).rejects.toMatchObject({
      statusCode: 401,
      code: 'algorithm_not_allowed',
    });
  });

  it('refuses to start with a file that holds no public key', async () => {
    await expect(loadVerificationKey({ jwtPublicKeyFile: rsa.jwkFile })).rejects.toThrow(/not a PEM public key/);
    await expect(loadVerificationKey({ jwtPublicKeyFile: `${tmp.dir}/missing.pem` })).rejects.toThrow(/cannot read/);
  });

  it('refuses two key sources at once', async () => {
    await expect(loadVerificationKey({ jwtSecret: 's', jwks: rsa.jwkFile })).rejects.toThrow(/one JWT key source/);
  });
});

describe('--jwks FILE', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ jwks: ec.jwkFile });
  });

  it('accepts a token whose kid is in the set', async () => {
    const res = await invoke(server, await signWith({ projectId: 'p-test' }, ec.privateKey, 'ES256', 'ES256-key'));
    expect(res.status).toBe(200);
  });

  it('refuses a kid that is not in the set', async () => {
    const token = await signWith({ projectId: 'p-test' }, ec.privateKey, 'ES256', 'unknown-kid');
    await expectRefused(await invoke(server, token), 401, 'no_matching_key');
  });

  it('refuses HS256 made with the text of the JWKS file', async () => {
    const forged = await hs256({ projectId: 'p-test' }, readFileSync(ec.jwkFile, 'utf8'));
    await expectRefused(await invoke(server, forged), 401, 'algorithm_not_allowed');
  });
});

describe('--jwks URL on 127.0.0.1', () => {
  let server: TestServer;
  let jwksServer: Server;
  let fetches = 0;

  beforeAll(async () => {
    jwksServer = createServer((req, res) => {
      fetches += 1;
      if (req.url === '/down') return void res.writeHead(500).end('down');
      if (req.url === '/garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": 5}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(readFileSync(ed.jwkFile));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    server = await start({ jwks: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });

  afterAll(async () => {
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  it('fetches the set when a token arrives and accepts a token it verifies', async () => {
    const res = await invoke(server, await signWith({ projectId: 'p-test', exp: inOneHour() }, ed.privateKey, 'EdDSA', 'EdDSA-key'));
    expect(res.status).toBe(200);
    expect(fetches).toBeGreaterThanOrEqual(1);
  });

  it('refuses a token signed by a key not in the set', async () => {
    const token = await signWith({ projectId: 'p-test' }, rsa.privateKey, 'RS256', 'EdDSA-key');
    await expectRefused(await invoke(server, token), 401, 'no_matching_key');
  });

  it('is a 503, not a 401, when the set cannot be fetched or is not a set', async () => {
    const { port } = jwksServer.address() as AddressInfo;
    const token = `Bearer ${await signWith({ projectId: 'p-test' }, ed.privateKey, 'EdDSA', 'EdDSA-key')}`;
    const down = await loadVerificationKey({ jwks: `http://127.0.0.1:${port}/down` });
    await expect(verifyAuthorization(token, down!, 'p-test')).rejects.toMatchObject({ statusCode: 503, code: 'jwks_unavailable' });
    const garbage = await loadVerificationKey({ jwks: `http://127.0.0.1:${port}/garbage` });
    await expect(verifyAuthorization(token, garbage!, 'p-test')).rejects.toMatchObject({ statusCode: 503, code: 'jwks_unavailable' });
    const closed = await closedPort();
    const refused = await loadVerificationKey({ jwks: `http://127.0.0.1:${closed}/jwks.json` });
    await expect(verifyAuthorization(token, refused!, 'p-test')).rejects.toMatchObject({ statusCode: 503, code: 'jwks_unavailable' });
  });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
