// The generated dev secret and the `token` command, through the real CLI where it matters.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevSecret } from '../src/auth/dev-secret.ts';
import { parseDuration } from '../src/auth/duration.ts';
import { bearer, expectRefused, hs256, type KeyFiles, keyFiles, SECRET, tempDir } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const CLI = fileURLToPath(new URL('../bin/cerebrium-local.mjs', import.meta.url));
const tmp = tempDir();
const servers: TestServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  tmp.remove();
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  // The parent's secret must not leak into a run that tests the lack of one.
  const { CEREBRIUM_JWT_SECRET: _ignored, ...parentEnv } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...parentEnv, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const decodePayload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

describe('the dev secret, when an app needs auth and no key is given', () => {
  const dataDir = join(tmp.dir, 'data');
  let server: TestServer;
  const banner: string[] = [];

  beforeAll(async () => {
    server = await startTestServer([fixture('auth-app')], { dataDir, print: (line) => banner.push(line) });
    servers.push(server);
  });

  it('is generated once under the data folder, readable by its owner only', async () => {
    expect(statSync(join(dataDir, 'jwt-secret')).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateDevSecret(dataDir);
    expect(again.created).toBe(false);
    expect(again.secret.length).toBeGreaterThanOrEqual(32);
  });

  it('prints a ready-to-paste dev token that the server accepts', async () => {
    expect(banner.join('\n')).toMatch(/App "secured" requires Authorization: Bearer/);
    const line = banner.find((l) => l.trim().startsWith('Authorization: Bearer '));
    expect(line).toBeDefined();
    const token = line!.trim().slice('Authorization: Bearer '.length);
    expect(decodePayload(token)).toMatchObject({ projectId: 'p-test', exp: expect.any(Number), iat: expect.any(Number) });
    const res = await server.post('/v4/p-test/secured/whoami', {}, bearer(token));
    expect(res.status).toBe(200);
  });

  it('`token --data-dir` signs with it, and the token works', async () => {
    const [out, other] = await Promise.all([
      cli(['token', '--project', 'p-test', '--data-dir', dataDir]),
      cli(['token', '--project', 'p-other', '--data-dir', dataDir]),
    ]);
    expect(out.code).toBe(0);
    const token = out.stdout.trim();
    expect((await server.post('/v4/p-test/secured/whoami', {}, bearer(token))).status).toBe(200);
    await expectRefused(await server.post('/v4/p-test/secured/whoami', {}, bearer(other.stdout.trim())), 403, 'project_mismatch');
  });

  it('a token made with any other secret is refused', async () => {
    await expectRefused(
      await server.post('/v4/p-test/secured/whoami', {}, bearer(await hs256({ projectId: 'p-test' }))),
      401,
      'invalid_signature',
    );
  });
});

describe('cerebrium-local token', () => {
  let rsa: KeyFiles;
  let secretServer: TestServer;
  let keyServer: TestServer;

  beforeAll(async () => {
    rsa = await keyFiles(tmp.dir, 'RS256');
    [secretServer, keyServer] = await Promise.all([
      startTestServer([fixture('auth-app')], { auth: { jwtSecret: SECRET } }),
      startTestServer([fixture('auth-app')], { auth: { jwtPublicKeyFile: rsa.publicPemFile } }),
    ]);
    servers.push(secretServer, keyServer);
  });

  it('signs with the HS256 secret from CEREBRIUM_JWT_SECRET, expiring as asked', async () => {
    const out = await cli(['token', '--project', 'p-test', '--expires-in', '2h'], { CEREBRIUM_JWT_SECRET: SECRET });
    expect(out.code).toBe(0);
    const token = out.stdout.trim();
    const claims = decodePayload(token);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(7200);
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'HS256' });
    expect((await secretServer.post('/v4/p-test/secured/whoami', {}, bearer(token))).status).toBe(200);
  });

  it('signs with --jwt-private-key, verified by the server holding the public key', async () => {
    const out = await cli(['token', '--project', 'p-test', '--jwt-private-key', rsa.privatePemFile]);
    expect(out.code).toBe(0);
    const token = out.stdout.trim();
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'RS256' });
    expect((await keyServer.post('/v4/p-test/secured/whoami', {}, bearer(token))).status).toBe(200);
  });

  it('says it cannot sign with only a public key or a bad --expires-in, and prints no token', async () => {
    const [badExpiry, publicOnly] = await Promise.all([
      cli(['token', '--project', 'p-test', '--jwt-secret', SECRET, '--expires-in', 'soon']),
      cli(['token', '--project', 'p-test', '--jwt-public-key', rsa.publicPemFile]),
    ]);
    expect(badExpiry.code).toBe(1);
    expect(badExpiry.stdout).toBe('');
    expect(badExpiry.stderr).toMatch(/--expires-in/);
    expect(publicOnly.code).toBe(1);
    expect(publicOnly.stdout).toBe('');
    expect(publicOnly.stderr).toMatch(/cannot sign with --jwt-public-key.*--jwt-private-key/);
  });
});

describe('--expires-in values', () => {
  it('reads seconds, units and never; refuses the rest', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('never')).toBeNull();
    for (const bad of ['0', '-1h', '1y', 'soon', '']) expect(parseDuration(bad)).toBeUndefined();
  });
});
