// Per-app auth as one onRequest hook on the root server: any route whose path names an app —
// `:appName` (with `:projectId`), or `:appId` = `{projectId}-{appName}` as the runs API spells it —
// is checked before its body is read, so routes added later are covered by naming their params so.
// Routes that learn their app some other way call `auth.authorize` themselves.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { type TokenChecker, type VerifiedClaims, verifyAuthorization } from './verify-token.ts';

/** Set on every response of a protected app while signatures go unchecked. */
export const INSECURE_AUTH_HEADER = 'x-cerebrium-local-insecure-auth';
export const INSECURE_AUTH_HEADER_VALUE = 'signature-not-verified';

export interface AuthTarget {
  appName: string;
  projectId: string;
}

export interface AppAuthOptions {
  /** Names of the apps with disable_auth = false. */
  protectedApps: Iterable<string>;
  /** How tokens are checked; required when any app is protected. */
  checker: TokenChecker | undefined;
  /** The project a token must belong to on routes whose path carries none. */
  defaultProjectId: string;
}

export class AppAuth {
  private readonly protectedApps: Set<string>;
  /** Longest first, so `{projectId}-{appName}` splits on the most specific app. */
  private readonly byLength: string[];
  private readonly checker: TokenChecker | undefined;
  private readonly defaultProjectId: string;

  constructor(options: AppAuthOptions) {
    this.protectedApps = new Set(options.protectedApps);
    this.byLength = [...this.protectedApps].sort((a, b) => b.length - a.length);
    this.checker = options.checker;
    this.defaultProjectId = options.defaultProjectId;
    if (this.protectedApps.size > 0 && !this.checker) {
      throw new Error(`Apps ${this.byLength.join(', ')} need auth but no token checker was given`);
    }
  }

  requiresAuth(appName: string): boolean {
    return this.protectedApps.has(appName);
  }

  /** The protected app a route's params name, if any. */
  targetFromParams(params: unknown): AuthTarget | undefined {
    if (typeof params !== 'object' || params === null) return undefined;
    const { appName, appId, projectId } = params as Record<string, unknown>;
    const project = typeof projectId === 'string' ? projectId : undefined;
    if (typeof appName === 'string') {
      return this.requiresAuth(appName) ? { appName, projectId: project ?? this.defaultProjectId } : undefined;
    }
    if (typeof appId === 'string') {
      // As the runs API reads it: the path's projectId, a dash, then the app's name.
      if (project !== undefined && appId.startsWith(`${project}-`)) {
        const named = appId.slice(project.length + 1);
        return this.requiresAuth(named) ? { appName: named, projectId: project } : undefined;
      }
      // No projectId beside it (or one that does not prefix it): split on the longest protected name.
      const name = this.byLength.find((n) => appId.endsWith(`-${n}`) && appId.length > n.length + 1);
      if (name) return { appName: name, projectId: appId.slice(0, appId.length - name.length - 1) };
    }
    return undefined;
  }

  /**
   * Throws the 401/403 (as a CerebriumLocalError) unless the request carries a token for the
   * target's project. Public apps pass untouched. Resolves to the claims when a token was checked.
   */
  async authorize(request: FastifyRequest, reply: FastifyReply, target: AuthTarget): Promise<VerifiedClaims | undefined> {
    if (!this.requiresAuth(target.appName) || !this.checker) return undefined;
    if (this.checker.kind === 'insecure-skip-signature') reply.header(INSECURE_AUTH_HEADER, INSECURE_AUTH_HEADER_VALUE);
    try {
      return await verifyAuthorization(request.headers.authorization, this.checker, target.projectId);
    } catch (err) {
      if (err instanceof CerebriumLocalError && err.statusCode === 401) {
        reply.header('www-authenticate', err.code === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"');
      }
      throw err;
    }
  }
}

export function registerAppAuth(server: FastifyInstance, auth: AppAuth): void {
  server.addHook('onRequest', async (request, reply) => {
    const target = auth.targetFromParams(request.params);
    if (target) await auth.authorize(request, reply, target);
  });
}
