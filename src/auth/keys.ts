// The key tokens are checked with, from the one source the operator named. The algorithms a token
// may use follow from the key's kind alone: a token's own `alg` never chooses how it is checked
// (that is how `none` and HS256-signed-with-the-public-key forgeries get through elsewhere).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../config/load-config.ts';

export interface AuthKeyOptions {
  /** HS256 shared secret (--jwt-secret / CEREBRIUM_JWT_SECRET). */
  jwtSecret?: string;
  /** PEM file with an RSA, P-256/384/521 or Ed25519 public key (or certificate). */
  jwtPublicKeyFile?: string;
  /** A JWKS: a file path, or an http(s) URL fetched when tokens arrive. */
  jwks?: string;
}

export type VerificationKey =
  | { kind: 'secret'; key: Uint8Array; algorithms: string[]; describe: string }
  | { kind: 'public-key'; key: KeyObject; algorithms: string[]; describe: string }
  | { kind: 'jwks'; key: JWTVerifyGetKey; algorithms: string[]; describe: string };

/** Asymmetric algorithms a JWKS may hold; jose also refuses a key whose type does not fit the alg. */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const EC_ALGORITHMS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** The algorithm a (public or private) key object signs with, or undefined when it is not one we take. */
export function algorithmsForKey(key: KeyObject): string[] | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256'];
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg ? [alg] : undefined;
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return undefined;
  }
}

/** Undefined when no key source was given. */
export async function loadVerificationKey(options: AuthKeyOptions): Promise<VerificationKey | undefined> {
  const given = [
    options.jwtSecret !== undefined && '--jwt-secret',
    options.jwtPublicKeyFile !== undefined && '--jwt-public-key',
    options.jwks !== undefined && '--jwks',
  ].filter((name): name is string => typeof name === 'string');
  if (given.length > 1) throw new ConfigError(`Give one JWT key source, not ${given.join(' and ')}`);

  if (options.jwtSecret !== undefined) {
    if (options.jwtSecret.length === 0) throw new ConfigError('--jwt-secret (CEREBRIUM_JWT_SECRET) must not be empty');
    return { kind: 'secret', key: new TextEncoder().encode(options.jwtSecret), algorithms: ['HS256'], describe: 'HS256 secret' };
  }
  if (options.jwtPublicKeyFile !== undefined) return loadPublicKey(options.jwtPublicKeyFile);
  if (options.jwks !== undefined) return loadJwks(options.jwks);
  return undefined;
}

async function loadPublicKey(file: string): Promise<VerificationKey> {
  const pem = await readKeyFile(file, '--jwt-public-key');
  let key: KeyObject;
  try {
    // Takes SPKI, PKCS#1 and certificates; a private key yields its public half.
    key = createPublicKey(pem);
  } catch (err) {
    throw new ConfigError(`--jwt-public-key ${file}: not a PEM public key (${(err as Error).message})`);
  }
  const algorithms = algorithmsForKey(key);
  if (!algorithms) {
    throw new ConfigError(
      `--jwt-public-key ${file}: a ${key.asymmetricKeyType} key is not supported (use RSA, EC P-256/P-384/P-521 or Ed25519)`,
    );
  }
  return { kind: 'public-key', key, algorithms, describe: `${algorithms[0]} public key from ${file}` };
}

async function loadJwks(source: string): Promise<VerificationKey> {
  if (/^https?:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new ConfigError(`--jwks ${source}: not a valid URL`);
    }
    return { kind: 'jwks', key: createRemoteJWKSet(url), algorithms: JWKS_ALGORITHMS, describe: `JWKS at ${url.href}` };
  }
  const text = await readKeyFile(source, '--jwks');
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array');
    return { kind: 'jwks', key: createLocalJWKSet(jwks), algorithms: JWKS_ALGORITHMS, describe: `JWKS file ${source}` };
  } catch (err) {
    throw new ConfigError(`--jwks ${source}: not a JSON Web Key Set (${(err as Error).message})`);
  }
}

export async function readKeyFile(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
