// `cerebrium-local token --project p-xxx [--expires-in 1h]`: prints a token the server will accept,
// signed with the same key options `serve` takes (or the dev secret it generates). Returns the exit code.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load-config.ts';
import { loadOrCreateDevSecret } from './dev-secret.ts';
import { parseDuration } from './duration.ts';
import { loadPrivateSigningKey, type SigningKey, secretSigningKey, signToken } from './sign-token.ts';

export const TOKEN_USAGE = `Usage: cerebrium-local token --project ID [--expires-in 1h] [key options]

Prints a JWT ({"projectId", "iat", "exp"}) that serve accepts for apps with disable_auth = false.

Options:
  --project ID             the token's projectId claim (env CEREBRIUM_PROJECT_ID, default p-local)
  --expires-in DURATION    90, 30s, 15m, 1h, 7d, 2w or never (default 1h)
  --jwt-secret SECRET      sign with this HS256 secret (env CEREBRIUM_JWT_SECRET)
  --jwt-private-key FILE   sign with this PEM private key (RSA → RS256, EC → ES256/384/512, Ed25519 → EdDSA);
                           the server then verifies with --jwt-public-key or --jwks holding its public half
  --data-dir DIR           with no key option, sign with the dev secret kept here (default .cerebrium-local)
  -h, --help               show this text
`;

export async function tokenCommand(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        project: { type: 'string' },
        'expires-in': { type: 'string' },
        'jwt-secret': { type: 'string' },
        'jwt-private-key': { type: 'string' },
        'jwt-public-key': { type: 'string' },
        jwks: { type: 'string' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(TOKEN_USAGE);
      return 0;
    }
    const projectId = values.project ?? process.env.CEREBRIUM_PROJECT_ID ?? 'p-local';
    const expiresIn = parseDuration(values['expires-in'] ?? '1h');
    if (expiresIn === undefined) {
      throw new ConfigError(`--expires-in must be like 90, 30s, 15m, 1h, 7d, 2w or never, got "${values['expires-in']}"`);
    }
    const signing = await chooseSigningKey(values);
    process.stdout.write(`${await signToken(signing, projectId, expiresIn)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`cerebrium-local token: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

interface KeyValues {
  'jwt-secret'?: string;
  'jwt-private-key'?: string;
  'jwt-public-key'?: string;
  jwks?: string;
  'data-dir'?: string;
}

async function chooseSigningKey(values: KeyValues): Promise<SigningKey> {
  if (values['jwt-secret'] !== undefined && values['jwt-private-key'] !== undefined) {
    throw new ConfigError('Give one signing key, not --jwt-secret and --jwt-private-key');
  }
  if (values['jwt-private-key'] !== undefined) return loadPrivateSigningKey(values['jwt-private-key']);
  const secret = values['jwt-secret'] ?? process.env.CEREBRIUM_JWT_SECRET;
  if (secret !== undefined) {
    if (secret === '') throw new ConfigError('--jwt-secret (CEREBRIUM_JWT_SECRET) must not be empty');
    return secretSigningKey(secret);
  }
  // A public key or a JWKS only verifies; signing needs the private half.
  const verifyOnly = values['jwt-public-key'] !== undefined ? '--jwt-public-key' : values.jwks !== undefined ? '--jwks' : undefined;
  if (verifyOnly) {
    throw new ConfigError(
      `cannot sign with ${verifyOnly}: a public key only verifies tokens. Pass --jwt-private-key FILE (its private half), ` +
        'or use a token issued by whoever holds that key',
    );
  }
  return secretSigningKey((await loadOrCreateDevSecret(values['data-dir'])).secret);
}
