// The shared async queue of a deployment on Postgres. An accepted async run is a row with no owner
// (and a NOTIFY naming its app); each server takes the oldest rows of an app while it has room for
// them (UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED)), so servers never wait on each
// other's rows and each run is taken once. Taking sets the owner and a lease; the run then goes
// through the run service as a local run does, and its webhook is sent by the server that ran it.
// Cancels of runs held elsewhere: a queued row is cancelled where it lies (and the server that
// cancelled it sends its webhook), a taken one by a NOTIFY its owner hears. A run's fault plan
// travels with its row, so the server that runs it injects what the accepting server decided.
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { CerebriumLocalError, errorBody } from '../errors.ts';
import type { FaultPlan } from '../faults/directives.ts';
import type { AsyncQueue, AsyncRequest, AsyncRunner, QueuedRun, RunPeers } from './async-queue.ts';
import { CANCEL_CHANNEL, QUEUE_CHANNEL } from './postgres-notify.ts';
import type { PostgresRunRepository } from './postgres-run-repository.ts';

export interface PostgresAsyncQueueOptions {
  pool: Pool;
  /** Every statement goes through its `guarded`, so a lost database shows in /ready. */
  repository: PostgresRunRepository;
  serverId: string;
  leaseMs: number;
  log: Logger;
}

interface QueuedRow {
  seq: string;
  id: string;
  project_id: string;
  app_name: string;
  function_name: string;
  created_at: string;
  params: string;
  webhook_endpoint: string | null;
  webhook_secret: string | null;
  webhook_authorization: string | null;
  fault_plan: string | null;
}

/** What a queued run is read back as, when it is taken or cancelled in the queue. */
const QUEUED_COLUMNS = `seq, id, project_id, app_name, function_name, created_at, params, webhook_endpoint, webhook_secret,
  webhook_authorization, fault_plan`;

/** Why a run cancelled through the runs API stopped: as a local cancel says it. */
const CANCEL_REASON = 'Cancelled through the runs API';

export class PostgresAsyncQueue implements AsyncQueue, RunPeers {
  private runner: AsyncRunner | undefined;
  /** Apps whose queue is being taken from now, and those to look at again once that is done. */
  private readonly pumping = new Set<string>();
  private readonly again = new Set<string>();
  private closed = false;

  constructor(private readonly options: PostgresAsyncQueueOptions) {}

  /** From now on, runs taken from the queue run through `runner` (the run service). */
  attach(runner: AsyncRunner): void {
    this.runner = runner;
  }

  async submit(request: AsyncRequest): Promise<{ id: string }> {
    this.requireRunner().checkAsync(request);
    const id = randomUUID();
    const { pool, repository } = this.options;
    const paramsJson = request.paramsJson ?? JSON.stringify(request.params);
    const { webhook, fault } = request;
    // One statement: the row and the NOTIFY commit together, so no server is woken for a row it cannot see.
    await repository.guarded(() =>
      pool.query(
        `WITH queued AS (
           INSERT INTO runs (id, project_id, app_name, function_name, async, method, status, created_at, params,
             webhook_endpoint, webhook_secret, webhook_authorization, fault, fault_plan)
           VALUES ($1, $2, $3, $4, TRUE, 'POST', 'pending', $5, $6, $7, $8, $9, $10, $11)
           RETURNING app_name)
         SELECT pg_notify('${QUEUE_CHANNEL}', app_name) FROM queued`,
        [
          id,
          request.projectId,
          request.appName,
          request.functionName,
          Date.now(),
          paramsJson,
          webhook?.url ?? null,
          webhook?.secret ?? null,
          webhook?.authorization ?? null,
          fault?.text ?? null,
          fault ? JSON.stringify(fault) : null,
        ],
      ),
    );
    return { id };
  }

  /** Takes runs of `appName` while this server has room for them. */
  wake(appName: string): void {
    if (this.closed || !this.runner) return;
    if (this.pumping.has(appName)) {
      this.again.add(appName);
      return;
    }
    this.pumping.add(appName);
    void this.pump(appName)
      .catch((err: unknown) => {
        // A lost database is already in the log and in /ready; the poll tries again.
        if (!(err instanceof CerebriumLocalError)) this.options.log.error({ err, app: appName }, 'could not take queued runs');
      })
      .finally(() => this.pumping.delete(appName));
  }

  /**
   * Cancels a run that is not live here: still queued, it is cancelled in its row (a taker that
   * holds the row waits, then finds it taken), and its webhook is sent from here; otherwise its
   * owner is told.
   */
  async cancel(runId: string): Promise<boolean> {
    const { pool, repository } = this.options;
    const cancelled = await this.cancelQueued(runId);
    if (cancelled) {
      this.requireRunner().cancelledInQueue(cancelled, CANCEL_REASON);
      return true;
    }
    const held = await repository.guarded(() =>
      pool.query(`SELECT pg_notify('${CANCEL_CHANNEL}', id) FROM runs WHERE id = $1 AND status IN ('pending', 'running')`, [runId]),
    );
    return (held.rowCount ?? 0) > 0;
  }

  /**
   * Cancels a run still in the queue, in one statement: only one server's can match the row, so
   * only one sends its webhook. The webhook's secret and credentials are cleared in the row and
   * read from the row as it was (`queued`), for that one delivery.
   */
  private async cancelQueued(runId: string): Promise<QueuedRun | undefined> {
    const { pool, repository } = this.options;
    const err = new CerebriumLocalError('run_cancelled', `The run was cancelled: ${CANCEL_REASON}`);
    const returned = QUEUED_COLUMNS.split(',').map((column) => `queued.${column.trim()}`);
    const { rows } = await repository.guarded(() =>
      pool.query<QueuedRow>(
        `UPDATE runs SET status = 'cancelled', status_code = $2, completed_at = $3, error = $4,
           webhook_secret = NULL, webhook_authorization = NULL
         FROM (SELECT ${QUEUED_COLUMNS} FROM runs WHERE id = $1) AS queued
         WHERE runs.id = queued.id AND runs.status = 'pending' AND runs.owner IS NULL
         RETURNING ${returned.join(', ')}`,
        [runId, err.statusCode, Date.now(), JSON.stringify(errorBody(err, runId).error)],
      ),
    );
    return rows[0] && queuedRun(rows[0]);
  }

  /** Takes no more runs; those taken go on (the server's drain waits for them). */
  close(): void {
    this.closed = true;
  }

  private async pump(appName: string): Promise<void> {
    do {
      this.again.delete(appName);
      while (!this.closed) {
        // The runtime counts a run handed to it at once (its admission is synchronous), so this is current.
        const room = this.requireRunner().freeCapacity(appName);
        if (room <= 0) break;
        const taken = await this.take(appName, room);
        for (const run of taken) this.runHere(run);
        if (taken.length < room) break;
      }
    } while (this.again.has(appName) && !this.closed);
  }

  private async take(appName: string, limit: number): Promise<QueuedRun[]> {
    const { pool, repository, serverId, leaseMs } = this.options;
    const { rows } = await repository.guarded(() =>
      pool.query<QueuedRow>(
        `UPDATE runs SET owner = $2, lease_until = $3
         WHERE seq IN (
           SELECT seq FROM runs WHERE app_name = $1 AND status = 'pending' AND owner IS NULL AND async
           ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING ${QUEUED_COLUMNS}`,
        [appName, serverId, Date.now() + leaseMs, limit],
      ),
    );
    // RETURNING keeps no order: FIFO is by arrival.
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    return rows.map(queuedRun);
  }

  private runHere(queued: QueuedRun): void {
    const run = this.requireRunner().runQueued(queued);
    // Its end frees room: the next queued run of the app can be taken.
    void run.settled().then(() => this.wake(queued.appName));
  }

  private requireRunner(): AsyncRunner {
    if (!this.runner) throw new Error('the async queue has no run service attached');
    return this.runner;
  }
}

function queuedRun(row: QueuedRow): QueuedRun {
  const run: QueuedRun = {
    id: row.id,
    projectId: row.project_id,
    appName: row.app_name,
    functionName: row.function_name,
    paramsJson: row.params,
    createdAt: Number(row.created_at),
  };
  // Written by submit from a FaultPlan (JSON.stringify), so it reads back as one.
  if (row.fault_plan !== null) run.fault = JSON.parse(row.fault_plan) as FaultPlan;
  if (row.webhook_endpoint !== null) {
    run.webhook = {
      url: row.webhook_endpoint,
      ...(row.webhook_secret === null ? {} : { secret: row.webhook_secret }),
      ...(row.webhook_authorization === null ? {} : { authorization: row.webhook_authorization }),
    };
  }
  return run;
}
