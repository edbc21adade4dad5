// The writes a run store has accepted and not yet made, and what both stores (SQLite, Postgres) do
// with them while the store cannot write (a full disk, a database out of reach): they are kept,
// merged per run, and retried; past a cap the oldest go, with one log line per retry; and the
// store reads as not writable (/ready answers 503) until a retry lands.
import type { Logger } from 'pino';
import type { NewRun, RunChange } from './run-repository.ts';

/**
 * A run's writes waiting for the next commit: its new record, and its latest change. A change
 * carries the run's whole state, so the latest replaces the one before and a run costs one row write.
 */
export interface PendingRunWrite {
  insert?: NewRun;
  change?: RunChange;
}

/** Other writes waiting beside the runs' (webhook attempts, log lines): capped at the same count, oldest first. */
export type WaitingWrites = unknown[] | Map<string, unknown>;

export interface KeptWritesOptions {
  log: Logger;
  /** The store's location, for the log lines. */
  store: string;
  /** How many runs' writes are kept for retry while the store cannot write (default 10000). */
  maxKeptRuns?: number;
  /** The error line logged when writes start failing: what the store could not do. */
  failureMessage: string;
  /** Schedules the next retry. */
  retry(): void;
  /** The webhook attempts and log lines waiting, capped with the runs. */
  others(): WaitingWrites[];
}

const MAX_KEPT_RUNS = 10_000;

export class KeptWrites {
  writable = true;
  /** Why the last write failed, while not writable. */
  lastWriteError: string | undefined;
  /** Runs' writes waiting for the next commit, merged per run; while the store cannot write, those kept for retry. */
  runs = new Map<string, PendingRunWrite>();
  readonly maxKeptRuns: number;
  /** Runs' writes dropped past the cap since the last log line about it. */
  private droppedRuns = 0;

  constructor(private readonly options: KeptWritesOptions) {
    this.maxKeptRuns = options.maxKeptRuns ?? MAX_KEPT_RUNS;
  }

  insert(run: NewRun): void {
    this.runs.set(run.id, { insert: run });
    if (!this.writable) this.cap();
  }

  change(change: RunChange): void {
    const pending = this.runs.get(change.id);
    if (pending) pending.change = change;
    else this.runs.set(change.id, { change });
  }

  /** The runs' writes waiting, handed to a batch; new ones gather in a fresh map meanwhile. */
  takeRuns(): Map<string, PendingRunWrite> {
    const taken = this.runs;
    this.runs = new Map();
    return taken;
  }

  /** A write failed for the store's sake: what waits is kept (capped) for the retry this schedules. Returns `err`. */
  failed(err: Error): Error {
    if (this.writable) this.options.log.error({ err, store: this.options.store }, this.options.failureMessage);
    this.writable = false;
    this.lastWriteError = err.message;
    this.cap();
    // At most one line per retry, however many runs were dropped since the last.
    this.logDropped();
    this.options.retry();
    return err;
  }

  /** A write landed after failures: `stored` runs' kept writes reached the store. */
  recovered(stored: number): void {
    this.writable = true;
    this.lastWriteError = undefined;
    this.logDropped();
    this.options.log.warn({ store: this.options.store, kept_runs_stored: stored }, 'the run store writes again');
  }

  /**
   * Keeps at most maxKeptRuns runs' writes. New records of runs (their callers had their answers)
   * go first, oldest first; changes to runs already stored go last, as losing one would leave a
   * finished run to be marked failed later. Attempts and log lines go oldest first past the same count.
   */
  cap(): void {
    for (const waiting of this.options.others()) dropOldest(waiting, this.maxKeptRuns);
    let excess = this.runs.size - this.maxKeptRuns;
    if (excess <= 0) return;
    this.droppedRuns += excess;
    for (const onlyInserts of [true, false]) {
      for (const [id, write] of this.runs) {
        if (excess === 0) break;
        if (onlyInserts && !write.insert) continue;
        this.runs.delete(id);
        excess -= 1;
      }
    }
  }

  private logDropped(): void {
    if (this.droppedRuns === 0) return;
    this.options.log.error(
      { store: this.options.store, dropped: this.droppedRuns, cap: this.maxKeptRuns },
      'the run store could not write and more runs waited than are kept for retry; the oldest run records were dropped',
    );
    this.droppedRuns = 0;
  }
}

function dropOldest(waiting: WaitingWrites, max: number): void {
  if (Array.isArray(waiting)) {
    if (waiting.length > max) waiting.splice(0, waiting.length - max);
    return;
  }
  // A Map iterates in insertion order: its first keys are the oldest.
  for (const key of waiting.keys()) {
    if (waiting.size <= max) break;
    waiting.delete(key);
  }
}
