// A replica's whole environment, built in one place for all three kinds of replica (threads,
// Python processes, custom-runtime servers): a few variables of the server's own that programs
// need to run (INHERITED, LC_*), the ones the operator names with --pass-env, the app folder's
// `.env` (KEY=value lines, standing in for the project's secrets), then APP_NAME and PROJECT_ID as
// Cerebrium sets them. Nothing else of the server's environment reaches a function, so a secret
// the server was started with (CEREBRIUM_JWT_SECRET) is not readable there. Read when the app
// loads (and reloads); values are never logged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import type { AppConfig } from './load-config.ts';
import { ConfigError } from './load-config.ts';

export const APP_ENV_FILE = '.env';

/** The server's variables every replica gets, when set: finding programs, a home, language and time. */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_ENV'] as const;

export interface AppEnvOptions {
  /** The project id the server emulates (PROJECT_ID). */
  projectId: string;
  /** --pass-env: more of the server's variables to hand on, by name. */
  passEnv?: readonly string[];
}

export function appEnvironment(config: AppConfig, options: AppEnvOptions, server: NodeJS.ProcessEnv = process.env): Record<string, string> {
  // The app's .env wins over what it inherits; the platform's own variables win over both, as on Cerebrium.
  return {
    ...inheritedEnvironment(server, options.passEnv ?? []),
    ...dotEnv(config),
    APP_NAME: config.name,
    PROJECT_ID: options.projectId,
  };
}

/** INHERITED_ENV, every LC_* and the --pass-env names, from the server's environment. */
export function inheritedEnvironment(server: NodeJS.ProcessEnv, passEnv: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(server)) {
    if (value === undefined) continue;
    const inherited = (INHERITED_ENV as readonly string[]).includes(name) || name.startsWith('LC_') || passEnv.includes(name);
    if (inherited) env[name] = value;
  }
  return env;
}

function dotEnv(config: AppConfig): Record<string, string> {
  const file = join(config.dir, APP_ENV_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`${file}: ${String(err)}`);
  }
  return parseEnv(text) as Record<string, string>;
}
