// Several servers as one deployment on one Postgres database (--database-url): the shared run
// repository, the shared async queue, the LISTEN connection that carries cancels and wake-ups, and
// the timers that keep this server's leases and take over runs of servers whose leases ran out.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AsyncRunner } from './async-queue.ts';
import { PostgresAsyncQueue } from './postgres-async-queue.ts';
import { migrate } from './postgres-migrations.ts';
import { CANCEL_CHANNEL, PostgresListener, QUEUE_CHANNEL } from './postgres-notify.ts';
import { PostgresRunRepository } from './postgres-run-repository.ts';
import { recoverInterruptedRuns } from './recover-interrupted.ts';

export interface PostgresDeploymentOptions {
  /** postgres://user:password@host:port/database */
  databaseUrl: string;
  /** How long a server holds its unfinished runs without renewing; renewed every third of it. */
  leaseMs: number;
  /** How often the queue is looked at without a NOTIFY: the safety net for missed ones. */
  queuePollMs: number;
  log: Logger;
}

/** The URL without its password: what log lines and /ready show. */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password !== '') url.password = '***';
    return url.href;
  } catch {
    return 'postgres (an unparsable --database-url)';
  }
}

export class PostgresDeployment {
  /** This server's id: the owner of the runs it holds. */
  readonly serverId = randomUUID();
  readonly repository: PostgresRunRepository;
  readonly queue: PostgresAsyncQueue;
  private readonly listener: PostgresListener;
  private readonly timers: NodeJS.Timeout[] = [];
  private runner: AsyncRunner | undefined;
  private appNames: () => string[] = () => [];

  /** Connects, applies the migrations not yet applied (once, however many servers start at once). */
  static async open(options: PostgresDeploymentOptions): Promise<PostgresDeployment> {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 2000, idleTimeoutMillis: 10_000 });
    // An idle connection's error (the database restarted) would otherwise crash the process.
    pool.on('error', (err) => options.log.warn({ err }, 'a pooled connection to the run store was lost'));
    try {
      const applied = await migrate(pool);
      if (applied.length > 0) options.log.info({ versions: applied }, 'run store migrations applied');
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresDeployment(pool, options);
  }

  private constructor(
    pool: pg.Pool,
    private readonly options: PostgresDeploymentOptions,
  ) {
    const { log, leaseMs, databaseUrl } = options;
    const location = redactDatabaseUrl(databaseUrl);
    this.repository = new PostgresRunRepository({ pool, location, serverId: this.serverId, leaseMs, log });
    this.queue = new PostgresAsyncQueue({ pool, repository: this.repository, serverId: this.serverId, leaseMs, log });
    this.listener = new PostgresListener({
      connectionString: databaseUrl,
      channels: [QUEUE_CHANNEL, CANCEL_CHANNEL],
      log,
      onNotification: (channel, payload) => this.heard(channel, payload),
      onConnected: () => this.wakeAll(),
    });
  }

  /** Begins taking queued runs of `appNames()` for `runner`, hearing cancels, and keeping leases. */
  async start(runner: AsyncRunner, appNames: () => string[]): Promise<void> {
    this.runner = runner;
    this.appNames = appNames;
    this.queue.attach(runner);
    await this.listener.start();
    const { leaseMs, queuePollMs } = this.options;
    this.every(Math.max(10, Math.floor(leaseMs / 3)), () => this.keepLeases());
    this.every(queuePollMs, () => this.wakeAll());
  }

  /** Stops taking runs and hearing cancels. Leases are no longer renewed: unfinished runs are taken over once they run out. */
  async close(): Promise<void> {
    this.queue.close();
    for (const timer of this.timers) clearInterval(timer);
    await this.listener.close();
  }

  /** Takes no new queued runs, but keeps the leases of runs under way (a draining shutdown). */
  stopTaking(): void {
    this.queue.close();
  }

  private heard(channel: string, payload: string): void {
    if (channel === CANCEL_CHANNEL) this.runner?.cancelHere(payload);
    else if (channel === QUEUE_CHANNEL) this.queue.wake(payload);
  }

  /** Looks at every served app's queue now (the apps have loaded, or a NOTIFY may have been missed). */
  wakeAll(): void {
    for (const app of this.appNames()) this.queue.wake(app);
  }

  /**
   * Renews this server's leases (stopping the runs it no longer holds), then takes over runs of
   * servers whose leases ran out.
   */
  private async keepLeases(): Promise<void> {
    const { repository, options } = this;
    try {
      const lost = await repository.renewLeases(this.runner?.liveRunIds() ?? []);
      for (const runId of lost) this.fence(runId);
      // Async runs taken but not begun by a server whose lease ran out go back to the queue first (inside
      // recoverInterrupted), and the queue's poll takes them; the rest it held are marked failed.
      const failed = await recoverInterruptedRuns(repository);
      if (failed > 0) options.log.warn({ runs: failed }, 'runs held by a server that stopped (its lease ran out) are marked as failed');
    } catch {
      // The database is out of reach: the repository has logged it and /ready says so; the next tick tries again.
    }
  }

  /**
   * A run executing here that another server re-queued or ended (this server paused, or lost the
   * database, for longer than its lease): stopped here, so the work is not done twice.
   */
  private fence(runId: string): void {
    if (!this.runner?.fence(runId)) return;
    this.options.log.warn(
      { run_id: runId },
      'a run executing here is no longer held by this server (its lease ran out and another server re-queued or ended it): cancelled here',
    );
  }

  private every(ms: number, tick: () => unknown): void {
    const timer = setInterval(tick, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
