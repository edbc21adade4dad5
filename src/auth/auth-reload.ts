// `serve --watch` and auth: AppAuth reads the apps' configs live, so a reloaded cerebrium.toml
// decides the next request by itself. What is left for a reload is to make sure a token can be
// checked before an app turns locked (the dev secret, when no key was configured), to keep a
// renamed locked app's old runs behind a token, and to say when an app's auth changed.
import type { AppConfig } from '../config/load-config.ts';
import type { AppAuth } from './auth-hook.ts';
import { type AuthContext, devSecretChecker } from './setup-auth.ts';

/** Runs before a reloaded config is swapped in. Returns banner lines (a dev token) to print, if any. */
export async function prepareAuthReload(auth: AppAuth, next: AppConfig, context: AuthContext): Promise<string[]> {
  auth.rememberLocked();
  if (next.disableAuth || auth.hasChecker) return [];
  // An app became locked on a server started with no key: the same dev secret start-up would use.
  const dev = await devSecretChecker(context);
  auth.useChecker(dev.checker);
  return dev.banner;
}

export interface AuthChangeNotice {
  level: 'info' | 'warn';
  message: string;
}

/** The log line for a reload that changed whether an app needs a token; undefined when it did not. */
export function authChangeNotice(previous: AppConfig, next: AppConfig): AuthChangeNotice | undefined {
  if (previous.disableAuth === next.disableAuth) return undefined;
  if (next.disableAuth) {
    return {
      level: 'warn',
      message: `App "${next.name}" no longer needs a token (disable_auth = true after reload): anyone who can reach it can call it`,
    };
  }
  return { level: 'info', message: `App "${next.name}" now needs Authorization: Bearer <JWT> (disable_auth = false after reload)` };
}
