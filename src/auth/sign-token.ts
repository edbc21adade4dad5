// Mints tokens shaped like the real dashboard's: {projectId, iat, exp}. Used for the dev token
// printed at start and by `cerebrium-local token`.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError } from '../config/load-config.ts';
import { algorithmsForKey, readKeyFile } from './keys.ts';

export interface SecretSigningKey {
  kind: 'secret';
  alg: 'HS256';
  key: Uint8Array;
}

export type SigningKey = SecretSigningKey | { kind: 'private-key'; alg: string; key: KeyObject };

export function secretSigningKey(secret: string): SecretSigningKey {
  return { kind: 'secret', alg: 'HS256', key: new TextEncoder().encode(secret) };
}

/** A PEM private key (PKCS#8, PKCS#1 or SEC1): RSA → RS256, EC → ES256/384/512, Ed25519 → EdDSA. */
export async function loadPrivateSigningKey(file: string): Promise<SigningKey> {
  const pem = await readKeyFile(file, '--jwt-private-key');
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new ConfigError(`--jwt-private-key ${file}: not a PEM private key (${(err as Error).message})`);
  }
  const alg = algorithmsForKey(key)?.[0];
  if (!alg) throw new ConfigError(`--jwt-private-key ${file}: a ${key.asymmetricKeyType} key is not supported`);
  return { kind: 'private-key', alg, key };
}

/** expiresInS null: no exp claim. */
export async function signToken(signing: SigningKey, projectId: string, expiresInS: number | null): Promise<string> {
  const jwt = new SignJWT({ projectId }).setProtectedHeader({ alg: signing.alg, typ: 'JWT' }).setIssuedAt();
  if (expiresInS !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresInS);
  return jwt.sign(signing.key);
}
