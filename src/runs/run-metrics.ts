// Prometheus metrics, fed by listening to runs (like the run log) and read from the apps'
// runtimes when scraped. prom-client keeps the numbers; GET /metrics shows them.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppRegistry } from '../apps/app-registry.ts';
import type { RuntimeStats } from '../runtime/app-runtime.ts';
import type { Run } from './run.ts';

const PREFIX = 'cerebrium_local_';
/** Seconds: from sub-millisecond no-ops to runs near the default 900 s grace period. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

type RunLabels = 'app' | 'function';

interface FunctionSeries {
  runs(status: string): { inc(): void };
  runDuration: { observe(seconds: number): void };
  queueDuration: { observe(seconds: number): void };
}

export class RunMetrics {
  readonly registry = new Registry();
  private readonly runs: Counter<RunLabels | 'status'>;
  private readonly runDuration: Histogram<RunLabels>;
  private readonly queueDuration: Histogram<RunLabels>;
  private readonly streamEvents: Counter<RunLabels>;
  private readonly series = new Map<string, FunctionSeries>();

  constructor(apps: AppRegistry) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.runs = new Counter({
      name: `${PREFIX}runs_total`,
      help: 'Runs that have finished, by app, function and final status',
      labelNames: ['app', 'function', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: `${PREFIX}run_duration_seconds`,
      help: "The function's own duration (run_time_ms), for runs that reached a replica",
      labelNames: ['app', 'function'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueDuration = new Histogram({
      name: `${PREFIX}queue_duration_seconds`,
      help: 'Time from arrival until a replica began the run: waiting for capacity and cold starts',
      labelNames: ['app', 'function'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.streamEvents = new Counter({
      name: `${PREFIX}stream_events_total`,
      help: 'Server-Sent Events frames sent to callers',
      labelNames: ['app', 'function'],
      registers,
    });
    // Replica counts are read when scraped rather than tracked, so they cannot drift.
    const perApp = (name: string, help: string, read: (stats: RuntimeStats) => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['app'],
        registers,
        collect() {
          this.reset();
          for (const app of apps.list()) this.set({ app: app.config.name }, read(app.runtime.stats));
        },
      });
    perApp('replicas', 'Replicas (worker threads) running, by app', (s) => s.replicas);
    perApp('busy', 'Runs holding a slot on a replica, by app', (s) => s.busy);
    perApp('queued', 'Runs waiting for a free slot, by app', (s) => s.queued);
    new Counter({
      name: `${PREFIX}replica_starts_total`,
      help: 'Replicas started (cold starts), by app; an app reloaded by --watch counts from 0 again',
      labelNames: ['app'],
      registers,
      // Read from the runtimes when scraped, as the gauges are: the backends count, nothing here can drift.
      collect() {
        this.reset();
        for (const app of apps.list()) this.inc({ app: app.config.name }, app.runtime.stats.replicaStarts);
      },
    });
  }

  /** Counts the run and its durations once it has finished. */
  observe(run: Run): void {
    run.on('transition', () => {
      if (!run.done) return;
      // A custom runtime's paths are unbounded (ids in them); its series are by method instead.
      const series = this.seriesOf(run.appName, run.method ?? run.functionName);
      series.runs(run.status).inc();
      if (run.runTimeMs !== undefined) series.runDuration.observe(run.runTimeMs / 1000);
      if (run.queueTimeMs !== undefined) series.queueDuration.observe(run.queueTimeMs / 1000);
    });
  }

  /** One function's labelled series, made once: prom-client hashes label objects on every call otherwise. */
  private seriesOf(app: string, fn: string): FunctionSeries {
    const key = `${app}\u0000${fn}`;
    let series = this.series.get(key);
    if (!series) {
      const byStatus = new Map<string, { inc(): void }>();
      series = {
        runs: (status) => {
          let counter = byStatus.get(status);
          if (!counter) {
            counter = this.runs.labels(app, fn, status);
            byStatus.set(status, counter);
          }
          return counter;
        },
        runDuration: this.runDuration.labels(app, fn),
        queueDuration: this.queueDuration.labels(app, fn),
      };
      this.series.set(key, series);
    }
    return series;
  }

  /** A counter for one stream's frames, labelled once; its inc still hashes the labels, so count a batch at once. */
  streamEventsOf(run: Run): { inc(n?: number): void } {
    return this.streamEvents.labels(run.appName, run.functionName);
  }
}
