// An app's own environment: APP_NAME and PROJECT_ID as Cerebrium sets them, plus the variables in
// the app folder's `.env` (KEY=value lines), which stand in for the project's secrets. Read when
// the app loads (and reloads); values are never logged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import type { AppConfig } from './load-config.ts';
import { ConfigError } from './load-config.ts';

export const APP_ENV_FILE = '.env';

export function appEnvironment(config: AppConfig, projectId: string): Record<string, string> {
  const file = join(config.dir, APP_ENV_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { APP_NAME: config.name, PROJECT_ID: projectId };
    throw new ConfigError(`${file}: ${String(err)}`);
  }
  const secrets = parseEnv(text) as Record<string, string>;
  // The platform's own variables win, as on Cerebrium.
  return { ...secrets, APP_NAME: config.name, PROJECT_ID: projectId };
}
