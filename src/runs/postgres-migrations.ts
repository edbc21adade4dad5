// The Postgres run store's schema, as numbered migrations. Every server of a deployment applies
// them at start; several may start at once, so they take one advisory lock (held for the
// transaction) and record each version in schema_migrations: the first applies, the rest find it done.
import type { Pool } from 'pg';

/** Any constant: the key of the advisory lock that serialises migrations across servers. */
const MIGRATION_LOCK_KEY = 7_900_020;

interface Migration {
  version: number;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // Times are epoch milliseconds (BIGINT), as in the SQLite store. `owner` and `lease_until` say
    // which server holds an unfinished run and until when; a queued async run has no owner. The
    // webhook's secret and credentials travel with a queued run to the server that runs it, and
    // are cleared when the run ends.
    sql: `
      CREATE TABLE runs (
        seq                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id                    TEXT NOT NULL UNIQUE,
        project_id            TEXT NOT NULL,
        app_name              TEXT NOT NULL,
        function_name         TEXT NOT NULL,
        async                 BOOLEAN NOT NULL,
        method                TEXT NOT NULL,
        status                TEXT NOT NULL,
        status_code           INTEGER,
        created_at            BIGINT NOT NULL,
        started_at            BIGINT,
        completed_at          BIGINT,
        run_time_ms           DOUBLE PRECISION,
        queue_time_ms         DOUBLE PRECISION,
        params                TEXT NOT NULL,
        result                TEXT,
        result_truncated      BOOLEAN NOT NULL DEFAULT FALSE,
        error                 TEXT,
        webhook_endpoint      TEXT,
        owner                 TEXT,
        lease_until           BIGINT,
        webhook_secret        TEXT,
        webhook_authorization TEXT,
        fault                 TEXT
      );
      CREATE INDEX runs_by_app ON runs (project_id, app_name, seq);
      CREATE INDEX runs_queued ON runs (app_name, seq) WHERE status = 'pending' AND owner IS NULL;
      CREATE INDEX runs_leased ON runs (lease_until) WHERE status IN ('pending', 'running');
      CREATE INDEX runs_finished ON runs (completed_at) WHERE completed_at IS NOT NULL;
      CREATE TABLE webhook_attempts (
        run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        attempt      INTEGER NOT NULL,
        attempted_at BIGINT NOT NULL,
        duration_ms  DOUBLE PRECISION NOT NULL,
        status_code  INTEGER,
        error        TEXT,
        PRIMARY KEY (run_id, attempt)
      );
    `,
  },
  {
    version: 2,
    // The lines a run's function logged (the runs API's logs), deleted with their run.
    sql: `
      CREATE TABLE run_logs (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq    INTEGER NOT NULL,
        at     BIGINT NOT NULL,
        stream TEXT NOT NULL,
        level  TEXT NOT NULL,
        line   TEXT NOT NULL,
        cut    BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (run_id, seq)
      );
    `,
  },
  {
    version: 3,
    // The fault plan of a queued async run (src/faults, as JSON), so the server that takes it
    // injects what the server that accepted it decided; `fault` stays its canonical text, as shown.
    sql: `ALTER TABLE runs ADD COLUMN fault_plan TEXT;`,
  },
];

/** Applies the migrations not yet applied, under the lock. Returns the versions this call applied. */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    // Made under the lock too: two servers' CREATE TABLE IF NOT EXISTS can still collide without it.
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const done = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const known = new Set(done.rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (known.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
