// At start: which apps need a token, what checks tokens, and what to tell the operator. A key
// given on the command line is always loaded (a bad one stops start-up even if no app needs it);
// with none, an app that needs auth gets the generated dev secret and a ready-to-paste token.
import { relative } from 'node:path';
import type { AppConfig } from '../config/load-config.ts';
import { ConfigError } from '../config/load-config.ts';
import { AppAuth, INSECURE_AUTH_HEADER } from './auth-hook.ts';
import { loadOrCreateDevSecret } from './dev-secret.ts';
import { type AuthKeyOptions, loadVerificationKey } from './keys.ts';
import { secretSigningKey, signToken } from './sign-token.ts';
import type { TokenChecker } from './verify-token.ts';

export interface AuthOptions extends AuthKeyOptions {
  /** Check tokens' claims but not their signatures (offline use of real Cerebrium tokens). */
  insecureSkipSignature?: boolean;
}

export interface AuthContext {
  /** The server's project: the dev token is issued for it, and routes without one in the path need it. */
  projectId: string;
  /** The data folder, where the generated dev secret is kept (default .cerebrium-local). */
  dataDir?: string;
}

export interface AuthSetup {
  auth: AppAuth;
  /** Lines for the start-up banner: which apps need a token, and the dev token when one was made. */
  banner: string[];
  /** Lines to log as warnings. */
  warnings: string[];
}

/** The dev token's lifetime: long enough for a working week, short enough to not live forever. */
export const DEV_TOKEN_TTL_S = 7 * 86_400;

export async function setUpAuth(
  configs: readonly AppConfig[] | (() => readonly AppConfig[]),
  options: AuthOptions,
  context: AuthContext,
): Promise<AuthSetup> {
  const { projectId } = context;
  const apps = typeof configs === 'function' ? configs : () => configs;
  const key = await loadVerificationKey(options);
  if (options.insecureSkipSignature && key) {
    throw new ConfigError('--insecure-skip-signature checks no signature: give it no key (--jwt-secret, --jwt-public-key, --jwks)');
  }
  const protectedApps = apps()
    .filter((c) => !c.disableAuth)
    .map((c) => c.name);
  const banner: string[] = [];
  const warnings: string[] = [];

  let checker: TokenChecker | undefined = key;
  if (options.insecureSkipSignature) {
    checker = { kind: 'insecure-skip-signature', describe: 'claims only, NO signature check (--insecure-skip-signature)' };
    warnings.push(
      `INSECURE: --insecure-skip-signature is on. Tokens are NOT verified: anyone can forge one. Only projectId, exp and nbf are checked` +
        `${protectedApps.length ? ` for apps ${protectedApps.join(', ')}` : ''}, and their responses carry ${INSECURE_AUTH_HEADER}. ` +
        'Never expose this server beyond your machine.',
    );
  } else if (!checker && protectedApps.length > 0) {
    const dev = await devSecretChecker(context);
    checker = dev.checker;
    banner.push(...dev.banner);
  }

  const needs = protectedApps.map((name) => `App "${name}" requires Authorization: Bearer <JWT> (checked with ${checker?.describe})`);
  // Only a key the operator named puts every app's runs behind a token: the dev secret is for
  // locked apps alone, and with --insecure-skip-signature a token proves nothing.
  const auth = new AppAuth({ apps, checker, defaultProjectId: projectId, runsNeedToken: key !== undefined });
  if (key) banner.push(`The runs API (/v2/projects/…/runs) needs a token for every app (checked with ${key.describe})`);
  return { auth, banner: [...needs, ...banner], warnings };
}

/** The generated dev secret's checker, and the banner lines with a ready-to-paste dev token. */
export async function devSecretChecker(context: AuthContext): Promise<{ checker: TokenChecker; banner: string[] }> {
  const dev = await loadOrCreateDevSecret(context.dataDir);
  const signing = secretSigningKey(dev.secret);
  const where = relative(process.cwd(), dev.file) || dev.file;
  const token = await signToken(signing, context.projectId, DEV_TOKEN_TTL_S);
  return {
    checker: { kind: 'secret', key: signing.key, algorithms: ['HS256'], describe: 'HS256 dev secret' },
    banner: [
      `Dev token for project ${context.projectId} (HS256, secret ${dev.created ? 'generated in' : 'from'} ${where}, valid 7 days):`,
      `  Authorization: Bearer ${token}`,
    ],
  };
}
