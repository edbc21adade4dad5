// Where runs are kept: persistence only. The run service decides what to write and when; a
// repository only writes and reads records. SQLite (sqlite-run-repository.ts) is the embedded one;
// another engine implements the same interface. Writes are accepted at once and may be gathered
// before they reach storage; `commit` says when they have. Reads see every write accepted so far.
import type { RunLogLine } from '../replica-protocol.ts';
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
  /** The result's JSON text; only its first --max-stored-result-bytes when `resultTruncated`. */
  resultJson: string | null;
  /** The result was larger than the store keeps: `resultJson` is its beginning, not JSON. */
  resultTruncated: boolean;
  /** The error envelope's `error` object, as JSON text. */
  errorJson: string | null;
  webhookEndpoint: string | null;
  /** The faults injected into the run (their directives, e.g. "status=503"); null for a run left alone. */
  fault: string | null;
}

/** A run as a list page shows it: without its params and result, which can each be megabytes. */
export type RunSummary = Omit<StoredRun, 'paramsJson' | 'resultJson'>;

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
  /** The faults injected into the run, when any (src/faults). */
  fault?: string | null;
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
    /** Set when `resultJson` is only the beginning of a result too large to keep. */
    resultTruncated?: boolean;
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

/** A line a run's function logged, as kept: `seq` counts the run's lines from 0, so lines dropped from its start leave a gap. */
export interface StoredLogLine extends RunLogLine {
  seq: number;
  /** Set on a line longer than the per-run byte bound: only its beginning is kept. */
  cut?: boolean;
}

export interface RunPageQuery {
  projectId: string;
  appName: string;
  asyncOnly: boolean;
  limit: number;
  /** Only runs older than this `seq` (the cursor of the previous page). */
  before?: number;
  /** Only runs in this state (a filter of this emulator's; Cerebrium's runs API has asyncOnly only). */
  status?: RunStatus;
  /** Only runs of this function (or, for a custom runtime, this path). */
  functionName?: string;
}

export interface RunRepository {
  /** Where the runs are, for log lines ("runs.sqlite" path, a database URL without its password). */
  readonly location: string;
  /**
   * False while writes fail (a full disk, an I/O error): the writes accepted are kept (up to a
   * cap) and retried, and /ready answers 503 naming the store. True again once a retry lands.
   */
  readonly writable: boolean;
  /** Why the last write failed, while not writable. */
  readonly lastWriteError: string | undefined;
  insert(run: NewRun): void;
  transition(change: RunChange): void;
  recordWebhookAttempt(runId: string, attempt: WebhookAttempt): void;
  /**
   * Adds lines a run logged (written with the other writes, as they are gathered) and deletes the
   * run's lines whose `seq` is below `keepFrom`: the service bounds each run's logs, the store
   * keeps what it is told. Lines go with their run when it is pruned.
   */
  appendLogs(runId: string, lines: StoredLogLine[], keepFrom: number): void;
  /** A run's kept log lines, by `seq`; none for a run unknown or without logs. */
  logs(runId: string): Promise<StoredLogLine[]>;
  /**
   * Writes every write accepted so far now, and resolves once that is done. Rejects with a
   * `store_unavailable` error when they could not be written; they are kept and retried.
   */
  commit(): Promise<void>;
  /** Drops the writes still waiting for a run refused before it started (its record could not be stored). */
  discard(runId: string): void;
  get(id: string): Promise<StoredRun | undefined>;
  /** Newest first, without params and results. */
  listPage(query: RunPageQuery): Promise<RunSummary[]>;
  webhookAttempts(runId: string): Promise<WebhookAttempt[]>;
  /**
   * Marks every pending or running run as failed with `statusCode` and `error` (the envelope's
   * `error` object): the server that ran them is gone. Returns how many there were.
   */
  recoverInterrupted(statusCode: number, error: Record<string, unknown>): Promise<number>;
  /**
   * Deletes runs that finished before `completedBefore` (epoch ms), with their webhook attempts, a
   * batch at a time so other work interleaves. Returns how many.
   */
  prune(completedBefore: number): Promise<number>;
  /** Deletes each app's finished runs beyond its `keepPerApp` newest runs, as `prune` does. Returns how many. */
  pruneExcess(keepPerApp: number): Promise<number>;
  close(): Promise<void>;
}
