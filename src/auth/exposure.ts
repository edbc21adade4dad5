// A server listening beyond this machine while some apps need no token: said once at start, by
// name, since anyone who can reach the port can call those apps and read their runs.
import { isIP } from 'node:net';

/** Addresses only this machine can reach: 127.0.0.0/8, ::1, and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (bare === '::1') return true;
  return /^::ffff:127\./.test(bare);
}

/** The warning for `host` and these apps, or undefined when the host is loopback or every app is locked. */
export function publicAppsWarning(host: string, apps: ReadonlyArray<{ name: string; disableAuth: boolean }>): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  const open = apps.filter((app) => app.disableAuth).map((app) => `"${app.name}"`);
  if (open.length === 0) return undefined;
  return (
    `Listening on ${host}, beyond this machine, and app${open.length === 1 ? '' : 's'} ${open.join(', ')} need${open.length === 1 ? 's' : ''} ` +
    'no token: anyone who can reach this port can call them. Set disable_auth = false in [cerebrium.deployment] to require one'
  );
}
