// The scheduling that replicas which are processes share, whatever speaks to them (the Python
// bridge, a custom runtime's web server): a replica is started when a run finds no free slot, kept
// warm for `cooldown` seconds when idle (min_replicas always), taken out of the pool when it dies,
// and min_replicas are started again at once. The backend owns what a slot holds and how a run
// reaches its replica.
import type { ScalingConfig } from '../config/load-config.ts';

/** What the pool needs of a replica's process. */
export interface PooledProcess {
  /** Resolves when the replica can take runs (the end of its cold start). */
  readonly ready: Promise<void>;
  /** Whether it ever became ready: one that never did is not started again by itself. */
  readonly wasReady: boolean;
  /** Asks it to exit, and resolves once it has. */
  stop(): Promise<void>;
  /** Ends it at once. */
  kill(): void;
}

export type PoolScaling = Pick<ScalingConfig, 'minReplicas' | 'maxReplicas' | 'replicaConcurrency' | 'cooldown'>;

/** One replica and the runs it holds, by run id. */
export class PooledReplica<P extends PooledProcess, Slot> {
  readonly runs = new Map<string, Slot>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly process: P) {}

  get active(): number {
    return this.runs.size;
  }

  /** Counts idle time from now; `onIdle` runs after `ms` unless a run arrives first. */
  idleFor(ms: number, onIdle: () => void): void {
    this.stayAwake();
    this.idleTimer = setTimeout(onIdle, ms);
    this.idleTimer.unref();
  }

  stayAwake(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

export class ReplicaPool<P extends PooledProcess, Slot> {
  private readonly replicas: PooledReplica<P, Slot>[] = [];
  /** Replicas started for one run each (an injected cold start): outside the pool, stopped when their run leaves. */
  private readonly oneOffs = new Set<PooledReplica<P, Slot>>();
  private stopping = false;
  /** Replicas started since the pool was made, one-offs included: the dashboard's and /metrics' cold starts. */
  starts = 0;

  /**
   * `create` starts a replica's process; `attach` wires the backend to a new replica (its events
   * end up in `release` and `exited`). While `canAddReplica` says no, runs share the replicas
   * there are, past replica_concurrency (a custom runtime not yet known to listen on its own port).
   */
  constructor(
    private readonly scaling: PoolScaling,
    private readonly create: () => P,
    private readonly attach: (replica: PooledReplica<P, Slot>) => void,
    private readonly canAddReplica: () => boolean = () => true,
  ) {}

  /** Replicas running now, one-offs included. */
  get size(): number {
    return this.replicas.length + this.oneOffs.size;
  }

  /**
   * Starts min_replicas and waits until each is ready. While replicas cannot yet be added, the
   * first is started alone, and the others once it is ready and they can.
   */
  async start(): Promise<void> {
    const { minReplicas } = this.scaling;
    if (minReplicas === 0) return;
    if (!this.canAddReplica()) await this.spawn().process.ready;
    const count = this.canAddReplica() ? minReplicas - this.replicas.length : 0;
    const warm = Array.from({ length: count }, () => this.spawn());
    await Promise.all(warm.map((replica) => replica.process.ready));
  }

  /** Puts a run on the replica with the most room, or on a new one; the admission queue never asks for more than max_replicas hold. */
  take(runId: string, slot: Slot): PooledReplica<P, Slot> {
    const replica = this.replicaWithRoom() ?? (this.canAddReplica() ? undefined : this.leastBusy()) ?? this.spawn();
    replica.stayAwake();
    replica.runs.set(runId, slot);
    return replica;
  }

  /**
   * An injected cold start: the run goes to a replica started for it alone, which takes no other
   * run and stops once this one has left it; the warm replicas are left as they were. Replicas that
   * cannot be added yet (a server not known to listen on its own port) cannot give one: the run is
   * placed as `take` places it, which is a cold start only when no replica is running.
   */
  takeFresh(runId: string, slot: Slot): PooledReplica<P, Slot> {
    if (!this.canAddReplica() || this.stopping) return this.take(runId, slot);
    const replica = new PooledReplica<P, Slot>(this.create());
    this.oneOffs.add(replica);
    this.starts += 1;
    this.attach(replica);
    replica.runs.set(runId, slot);
    return replica;
  }

  /** A run has left its replica; an idle replica beyond min_replicas goes after `cooldown` seconds. */
  release(replica: PooledReplica<P, Slot>, runId: string): void {
    replica.runs.delete(runId);
    if (this.oneOffs.delete(replica)) {
      void replica.process.stop();
      return;
    }
    if (replica.active > 0 || this.stopping) return;
    replica.idleFor(this.scaling.cooldown * 1000, () => {
      if (replica.active > 0 || this.replicas.length <= this.scaling.minReplicas) return;
      this.retire(replica);
      void replica.process.stop();
    });
  }

  /** The replica's process has gone: returns the runs it held (now the caller's to end). */
  exited(replica: PooledReplica<P, Slot>): Array<[string, Slot]> {
    this.retire(replica);
    // min_replicas are kept warm: one that died is started again at once, not on the next call.
    if (!this.stopping && this.replicas.length < this.scaling.minReplicas && replica.process.wasReady) this.spawn();
    const held = [...replica.runs];
    replica.runs.clear();
    return held;
  }

  /** Takes a replica out of the pool, so new runs go elsewhere (or to a new one). */
  retire(replica: PooledReplica<P, Slot>): void {
    replica.stayAwake();
    this.oneOffs.delete(replica);
    const at = this.replicas.indexOf(replica);
    if (at >= 0) this.replicas.splice(at, 1);
  }

  /** Ends a replica at once (out of the pool first); its runs end through `exited`. */
  kill(replica: PooledReplica<P, Slot>): void {
    this.retire(replica);
    replica.process.kill();
  }

  /** Stops every replica. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.replicas.splice(0), ...this.oneOffs];
    this.oneOffs.clear();
    await Promise.all(all.map((replica) => replica.process.stop()));
  }

  private replicaWithRoom(): PooledReplica<P, Slot> | undefined {
    const { replicaConcurrency } = this.scaling;
    let best: PooledReplica<P, Slot> | undefined;
    for (const replica of this.replicas) {
      if (replica.active < replicaConcurrency && (!best || replica.active < best.active)) best = replica;
    }
    return best;
  }

  private leastBusy(): PooledReplica<P, Slot> | undefined {
    let best: PooledReplica<P, Slot> | undefined;
    for (const replica of this.replicas) if (!best || replica.active < best.active) best = replica;
    return best;
  }

  private spawn(): PooledReplica<P, Slot> {
    const replica = new PooledReplica<P, Slot>(this.create());
    this.replicas.push(replica);
    this.starts += 1;
    this.attach(replica);
    // A replica that never became ready is out of the pool at once; its runs end through `exited`.
    replica.process.ready.catch(() => this.retire(replica));
    return replica;
  }
}
