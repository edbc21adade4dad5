// Per-app auth as one onRequest hook on the root server: any route whose path names an app —
// `:appName` (with `:projectId`), or `:appId` = `{projectId}-{appName}` as the runs API spells it —
// is checked before its body is read, so routes added later are covered by naming their params so.
// Routes that learn their app some other way call `auth.authorize` themselves.
// Which apps are locked is read from the live configs on each request, so --watch reloads are followed;
// with a key the operator configured, the runs API needs a token for every app, as on Cerebrium.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { type TokenChecker, type VerifiedClaims, verifyAuthorization } from './verify-token.ts';

/** Set on every response of a protected app while signatures go unchecked. */
export const INSECURE_AUTH_HEADER = 'x-cerebrium-local-insecure-auth';
export const INSECURE_AUTH_HEADER_VALUE = 'signature-not-verified';

export interface AuthTarget {
  appName: string;
  projectId: string;
  /** Checked even when the app is public: the runs API once the operator configured a key source. */
  always?: boolean;
}

/** What AppAuth needs of an app's config. */
export interface AuthAppEntry {
  name: string;
  disableAuth: boolean;
}

export interface AppAuthOptions {
  /**
   * The apps served now, read on every decision: a `--watch` reload that renames an app or flips its
   * disable_auth takes effect on the next request, with no list to keep in step.
   */
  apps: () => Iterable<AuthAppEntry>;
  /** How tokens are checked; required when any app is protected (see useChecker for reloads). */
  checker: TokenChecker | undefined;
  /** The project a token must belong to on routes whose path carries none. */
  defaultProjectId: string;
  /**
   * The runs API (get, list, cancel) needs a token for every app, public ones included, as on
   * Cerebrium: set when the operator named a key source.
   */
  runsNeedToken?: boolean;
}

export class AppAuth {
  private readonly apps: () => Iterable<AuthAppEntry>;
  private checker: TokenChecker | undefined;
  private readonly defaultProjectId: string;
  readonly runsNeedToken: boolean;
  /**
   * Apps that needed a token at some point and are not served under that name now (renamed or
   * gone): their runs stay behind a token rather than turning public with the rename.
   */
  private readonly formerlyLocked = new Set<string>();

  constructor(options: AppAuthOptions) {
    this.apps = options.apps;
    this.checker = options.checker;
    this.defaultProjectId = options.defaultProjectId;
    this.runsNeedToken = options.runsNeedToken ?? false;
    this.rememberLocked();
    const locked = this.lockedNames();
    if (locked.length > 0 && !this.checker) throw new Error(`Apps ${locked.join(', ')} need auth but no token checker was given`);
  }

  get hasChecker(): boolean {
    return this.checker !== undefined;
  }

  /** For a reload that locks an app when no key was configured: the dev secret's checker. */
  useChecker(checker: TokenChecker): void {
    this.checker ??= checker;
  }

  /** Notes which apps need a token now, so a rename cannot make their runs public. Called before each reload. */
  rememberLocked(): void {
    for (const app of this.apps()) if (!app.disableAuth) this.formerlyLocked.add(app.name);
  }

  requiresAuth(appName: string): boolean {
    for (const app of this.apps()) if (app.name === appName) return !app.disableAuth;
    return this.formerlyLocked.has(appName);
  }

  /** Names that need a token (served and locked, or locked before and not served now), longest first. */
  private lockedNames(): string[] {
    const names = new Set(this.formerlyLocked);
    for (const app of this.apps()) {
      if (app.disableAuth) names.delete(app.name);
      else names.add(app.name);
    }
    return [...names].sort((a, b) => b.length - a.length);
  }

  /** The protected app a route's params name, if any. */
  targetFromParams(params: unknown): AuthTarget | undefined {
    if (typeof params !== 'object' || params === null) return undefined;
    const { appName, appId, projectId } = params as Record<string, unknown>;
    const project = typeof projectId === 'string' ? projectId : undefined;
    if (typeof appName === 'string') {
      return this.requiresAuth(appName) ? { appName, projectId: project ?? this.defaultProjectId } : undefined;
    }
    if (typeof appId === 'string') return this.runsTarget(appId, project);
    return undefined;
  }

  /** The runs API's `:appId`, as it reads it: the path's projectId, a dash, then the app's name. */
  private runsTarget(appId: string, project: string | undefined): AuthTarget | undefined {
    const always = this.runsNeedToken ? { always: true } : {};
    if (project !== undefined && appId.startsWith(`${project}-`)) {
      const named = appId.slice(project.length + 1);
      return this.runsNeedToken || this.requiresAuth(named) ? { appName: named, projectId: project, ...always } : undefined;
    }
    // No projectId beside it (or one that does not prefix it): split on the longest protected name.
    const name = this.lockedNames().find((n) => appId.endsWith(`-${n}`) && appId.length > n.length + 1);
    if (name) return { appName: name, projectId: appId.slice(0, appId.length - name.length - 1), ...always };
    return this.runsNeedToken ? { appName: appId, projectId: project ?? this.defaultProjectId, ...always } : undefined;
  }

  /** Whether the request carries a valid token for the server's project (for views that only hide, never refuse). */
  async hasValidToken(request: FastifyRequest): Promise<boolean> {
    if (!this.checker || request.headers.authorization === undefined) return false;
    try {
      await verifyAuthorization(request.headers.authorization, this.checker, this.defaultProjectId);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Throws the 401/403 (as a CerebriumLocalError) unless the request carries a token for the
   * target's project. Public apps pass untouched. Resolves to the claims when a token was checked.
   */
  async authorize(request: FastifyRequest, reply: FastifyReply, target: AuthTarget): Promise<VerifiedClaims | undefined> {
    if (!this.checker || !(target.always || this.requiresAuth(target.appName))) return undefined;
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
