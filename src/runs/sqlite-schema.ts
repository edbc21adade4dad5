// The run store's tables in SQLite, and the pragmas its connection runs under. Stores made by
// earlier versions are brought up to date in place.
import type Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT NOT NULL UNIQUE,
  project_id       TEXT NOT NULL,
  app_name         TEXT NOT NULL,
  function_name    TEXT NOT NULL,
  async            INTEGER NOT NULL,
  method           TEXT NOT NULL,
  status           TEXT NOT NULL,
  status_code      INTEGER,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  completed_at     INTEGER,
  run_time_ms      REAL,
  queue_time_ms    REAL,
  params           TEXT NOT NULL,
  result           TEXT,
  result_truncated INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  webhook_endpoint TEXT,
  fault            TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_app ON runs (project_id, app_name, seq);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (status) WHERE status IN ('pending', 'running');
CREATE TABLE IF NOT EXISTS webhook_attempts (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  attempt      INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  duration_ms  REAL NOT NULL,
  status_code  INTEGER,
  error        TEXT,
  PRIMARY KEY (run_id, attempt)
);
CREATE TABLE IF NOT EXISTS run_logs (
  run_id TEXT NOT NULL,
  seq    INTEGER NOT NULL,
  at     INTEGER NOT NULL,
  stream TEXT NOT NULL,
  level  TEXT NOT NULL,
  line   TEXT NOT NULL,
  cut    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
`;

/** Locks the file, sets its journal, and creates or updates the tables; throws as SQLite does (a locked file among others). */
export function applySchema(db: Database.Database): void {
  // One server per data dir: the exclusive lock (dropped by the OS even on SIGKILL) stops a
  // second server from marking the first one's live runs as interrupted.
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL survives a killed process; only a power cut can lose the last commits.
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);
  addResultTruncatedColumn(db);
  addFaultColumn(db);
}

/** Stores made before faults could be injected lack the column; it is added in place. */
function addFaultColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('runs')`).all();
  if (!columns.some((column) => column.name === 'fault')) db.exec(`ALTER TABLE runs ADD COLUMN fault TEXT`);
}

/** Stores made before results could be truncated lack the column; it is added in place. */
function addResultTruncatedColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('runs')`).all();
  if (!columns.some((column) => column.name === 'result_truncated')) {
    db.exec(`ALTER TABLE runs ADD COLUMN result_truncated INTEGER NOT NULL DEFAULT 0`);
  }
}
