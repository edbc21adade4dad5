// Where runs are kept: persistence only. The run service decides what to write and when; a
// repository only writes and reads records. SQLite (sqlite-run-repository.ts) is the embedded one;
// another engine implements the same interface. Writes are accepted at once and may be gathered
// before they reach storage; `commit` says when they have. Reads see every write accepted so far.
import type { RunStatus } from './run.ts';

/** A run as it is kept. Times are epoch milliseconds. */
export interface StoredRun {
  /** Order of arrival in this store: the cursor of a page. */
  seq: number;
  id: string;
  projectId: string;
  appName: string;
  functionName: string;
  async: boolean;
  method: string;
  status: RunStatus;
  statusCode: number | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  runTimeMs: number | null;
  queueTimeMs: number | null;
  paramsJson: string;
  resultJson: string | null;
  /** The error envelope's `error` object, as JSON text. */
  errorJson: string | null;
  webhookEndpoint: string | null;
}

/** What a new run's record holds. */
export interface NewRun {
  id: string;
  projectId: string;
  appName: string;
  functionName: string;
  async: boolean;
  /** How the run was asked for: POST for functions, the forwarded request's method for custom runtimes. */
  method: string;
  status: RunStatus;
  createdAt: number;
  paramsJson: string;
  webhookEndpoint: string | null;
}

/** A run's state after a transition; the fields of `end` come with its final one. */
export interface RunChange {
  id: string;
  status: RunStatus;
  startedAt: number | null;
  queueTimeMs: number | null;
  end?: {
    statusCode: number;
    completedAt: number;
    runTimeMs: number | null;
    resultJson: string | null;
    errorJson: string | null;
  };
}

export interface WebhookAttempt {
  attempt: number;
  /** Epoch milliseconds when the attempt began. */
  at: number;
  durationMs: number;
  /** The receiver's HTTP status; null when no answer came (network error, timeout). */
  statusCode: number | null;
  error: string | null;
}

export interface RunPageQuery {
  projectId: string;
  appName: string;
  asyncOnly: boolean;
  limit: number;
  /** Only runs older than this `seq` (the cursor of the previous page). */
  before?: number;
}

export interface RunRepository {
  /** Where the runs are, for log lines ("runs.sqlite" path, a database URL without its password). */
  readonly location: string;
  insert(run: NewRun): void;
  transition(change: RunChange): void;
  recordWebhookAttempt(runId: string, attempt: WebhookAttempt): void;
  /**
   * Writes every write accepted so far now, and resolves once that is done. A write that fails
   * (a full disk, say) is logged by the repository; it does not reject here yet.
   */
  commit(): Promise<void>;
  get(id: string): Promise<StoredRun | undefined>;
  /** Newest first. */
  listPage(query: RunPageQuery): Promise<StoredRun[]>;
  webhookAttempts(runId: string): Promise<WebhookAttempt[]>;
  /**
   * Marks every pending or running run as failed with `statusCode` and `error` (the envelope's
   * `error` object): the server that ran them is gone. Returns how many there were.
   */
  recoverInterrupted(statusCode: number, error: Record<string, unknown>): Promise<number>;
  /** Deletes runs that finished before `completedBefore` (epoch ms), with their webhook attempts. Returns how many. */
  prune(completedBefore: number): Promise<number>;
  close(): Promise<void>;
}
