// Shared by the auth tests: token crafting (good and forged), throwaway key files, and an
// assertion for the 401/403 envelope. Not a test file itself.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { expect } from 'vitest';

export const SECRET = 'test-secret-that-is-long-enough-for-hs256!!';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

export function tempDir(prefix = 'cl-auth-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function hs256(claims: JWTPayload, secret: string | Uint8Array = SECRET): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().sign(key);
}

export async function signWith(claims: JWTPayload, privateKey: CryptoKey, alg: string, kid?: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
    .setIssuedAt()
    .sign(privateKey);
}

/** An unsigned token, as an attacker would hand-craft it. */
export function algNone(claims: JWTPayload): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iat: nowS(), ...claims })}.`;
}

/** A real token whose payload was swapped after signing; the signature is left as it was. */
export function tamper(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64(claims)}.${signature}`;
}

export const inOneHour = () => nowS() + 3600;
export const anHourAgo = () => nowS() - 3600;

export interface KeyFiles {
  alg: string;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  publicPem: string;
  publicPemFile: string;
  privatePemFile: string;
  jwkFile: string;
}

/** A fresh key pair written as PEM files and as a one-key JWKS file in `dir`. */
export async function keyFiles(dir: string, alg: 'RS256' | 'ES256' | 'EdDSA', kid = `${alg}-key`): Promise<KeyFiles> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicPem = await exportSPKI(publicKey);
  const publicPemFile = join(dir, `${kid}.pub.pem`);
  const privatePemFile = join(dir, `${kid}.pem`);
  const jwkFile = join(dir, `${kid}.jwks.json`);
  writeFileSync(publicPemFile, publicPem);
  writeFileSync(privatePemFile, await exportPKCS8(privateKey));
  writeFileSync(jwkFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] }));
  return { alg, publicKey, privateKey, publicPem, publicPemFile, privatePemFile, jwkFile };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The project's error envelope for a refused request, with WWW-Authenticate on every 401. */
export async function expectRefused(res: Response, status: 401 | 403, code: string, message?: RegExp | string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { type: string; code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.type).toBe(status === 401 ? 'authentication_error' : 'permission_error');
  expect(body.error.code).toBe(code);
  if (typeof message === 'string') expect(body.error.message).toBe(message);
  else if (message) expect(body.error.message).toMatch(message);
  if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  else expect(res.headers.get('www-authenticate')).toBeNull();
  return body.error;
}
