// The dashboard's chart of replicas: each app's replica count, busy and queued runs, sampled on a
// timer into a short ring (the last few minutes), so a page opened now still shows what came before.
// Cold starts are the replicas each app's backend really started between two samples (threads
// created, processes spawned, injected cold starts included), not rises in the count: a replica
// replaced between two samples, or one that came and went, is still a start.
import type { AppRegistry } from '../apps/app-registry.ts';

export interface ReplicaSample {
  /** Epoch ms. */
  at: number;
  replicas: number;
  busy: number;
  queued: number;
  /** Replicas started since the previous sample. */
  coldStarts: number;
  /** Replicas started since the app's runtime was made (the counter the samples are read from). */
  replicaStarts: number;
}

export const SAMPLE_EVERY_MS = 2_000;
/** Five minutes of samples. */
const KEEP_SAMPLES = 150;

export class ReplicaHistory {
  private readonly samples = new Map<string, ReplicaSample[]>();
  private readonly listeners = new Set<(app: string, sample: ReplicaSample) => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly registry: AppRegistry) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    // Unref'd: the chart never keeps a stopping server alive.
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every app's samples, oldest first. */
  all(): Record<string, ReplicaSample[]> {
    return Object.fromEntries(this.samples);
  }

  /** Hears each new sample; returns how to stop. */
  listen(listener: (app: string, sample: ReplicaSample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private sample(): void {
    if (!this.registry.ready) return;
    const at = Date.now();
    for (const app of this.registry.list()) {
      const name = app.config.name;
      const { replicas, busy, queued, replicaStarts } = app.runtime.stats;
      const ring = this.samples.get(name) ?? [];
      // The first sample counts the starts before it (the warm replicas); a reloaded app's counter restarts at 0.
      const before = ring.at(-1)?.replicaStarts ?? 0;
      const coldStarts = replicaStarts >= before ? replicaStarts - before : replicaStarts;
      const sample = { at, replicas, busy, queued, coldStarts, replicaStarts };
      ring.push(sample);
      if (ring.length > KEEP_SAMPLES) ring.shift();
      this.samples.set(name, ring);
      for (const listener of this.listeners) listener(name, sample);
    }
  }
}
