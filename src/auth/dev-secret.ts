// The secret used when an app needs auth and the operator configured no key: generated once,
// kept in the data folder readable by its owner only, so tokens survive restarts.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const DEFAULT_DATA_DIR = '.cerebrium-local';
export const DEV_SECRET_FILE = 'jwt-secret';

export interface DevSecret {
  secret: string;
  /** Absolute path of the file it is kept in. */
  file: string;
  /** True when this call generated it. */
  created: boolean;
}

export async function loadOrCreateDevSecret(dataDir: string = DEFAULT_DATA_DIR): Promise<DevSecret> {
  const dir = resolve(dataDir);
  const file = join(dir, DEV_SECRET_FILE);
  const existing = await readSecret(file);
  if (existing !== undefined) return { secret: existing, file, created: false };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  try {
    // 'wx': two processes starting at once must not each write a different secret.
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = await readSecret(file);
    if (winner === undefined) throw new Error(`${file} exists but holds no secret`);
    return { secret: winner, file, created: false };
  }
  // The umask may have narrowed the mode further, never widened it; make it exactly 0600.
  await chmod(file, 0o600);
  return { secret, file, created: true };
}

async function readSecret(file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
