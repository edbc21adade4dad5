// Replicas of a custom runtime ([cerebrium.runtime.custom]): each is the app's own web server
// (server-process.ts), and a run is one request forwarded to it with undici, or one WebSocket
// session opened to it with ws. A run waits for its replica's readycheck (the cold start), hands
// the answer's head to whoever forwarded it (forwarding.ts) and ends when the body has been passed
// on, or when the WebSocket closes. When replicas start and stop is the pool's (replica-pool.ts).
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import WebSocket from 'ws';
import type { SerializedError } from '../errors.ts';
import type { RunRequest, RunResult } from '../replica-protocol.ts';
import { type ForwardRunRequest, holdMessages, isForwarded } from './forwarding.ts';
import type { BackendHealth, DispatchOptions, ReplicaBackend, RunHandle, RunListener } from './replica-backend.ts';
import { type PooledReplica, type PoolScaling, ReplicaPool } from './replica-pool.ts';
import { ServerProcess } from './server-process.ts';

/** What [cerebrium.runtime.custom] says about how to start and check a replica. */
export interface CustomRuntimeSpec {
  /** The entrypoint's argv, as written. */
  argv: string[];
  /** The port it is configured to listen on; an argument equal to it is replaced by each replica's own. */
  port: number;
  readycheckEndpoint?: string;
  healthcheckEndpoint?: string;
  /** How long a replica may take to become ready. */
  readyTimeoutMs: number;
}

export interface UpstreamBackendOptions {
  appName: string;
  appDir: string;
  env: Record<string, string>;
  scaling: PoolScaling;
  runtime: CustomRuntimeSpec;
  /** How often a ready replica's healthcheck is polled. */
  healthIntervalMs: number;
  log: Logger;
}

interface RunSlot {
  listener: RunListener;
  /** Aborts the forwarded request or closes the WebSocket. */
  stop: AbortController;
  ended: boolean;
  /** Set when the run's replica is being replaced: its end says so. */
  replacedBecause?: string;
}

type Replica = PooledReplica<ServerProcess, RunSlot>;

/** Whether replicas listen on the port each is given, or one listens on the configured port for all. */
type PortMode = 'unknown' | 'per-replica' | 'configured-port';

export class UpstreamBackend implements ReplicaBackend {
  private readonly pool: ReplicaPool<ServerProcess, RunSlot>;
  private readonly log: Logger;
  private portMode: PortMode = 'unknown';
  /** One connection pool per ready replica. */
  private readonly connections = new Map<ServerProcess, Pool>();
  /** Why a replica was stopped, for the runs it held. */
  private readonly replacedBecause = new Map<ServerProcess, string>();

  constructor(private readonly options: UpstreamBackendOptions) {
    this.log = options.log.child({ app: options.appName });
    this.pool = new ReplicaPool(
      options.scaling,
      () => this.startServer(),
      (replica) => this.attach(replica),
      () => this.portMode === 'per-replica',
    );
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  run(request: RunRequest, listener: RunListener, options?: DispatchOptions): RunHandle {
    if (!isForwarded(request)) throw new Error('A custom runtime serves forwarded requests only');
    const slot: RunSlot = { listener, stop: new AbortController(), ended: false };
    // An injected cold start waits for a replica of its own: the entrypoint started and its readycheck passed.
    const replica = options?.freshReplica ? this.pool.takeFresh(request.runId, slot) : this.pool.take(request.runId, slot);
    void this.forward(replica, request, slot);
    return {
      abort: (reason) => slot.stop.abort(reason),
      credit: () => undefined,
      replaceReplica: (message) => {
        slot.replacedBecause = message;
        this.pool.kill(replica);
      },
    };
  }

  health(): BackendHealth {
    return { replicas: this.pool.size, starts: this.pool.starts };
  }

  async stop(): Promise<void> {
    await this.pool.stop();
    await Promise.all([...this.connections.values()].map((pool) => pool.destroy()));
    this.connections.clear();
  }

  private async forward(replica: Replica, request: ForwardRunRequest, slot: RunSlot): Promise<void> {
    const began = performance.now();
    let result: RunResult;
    try {
      await replica.process.ready;
      slot.stop.signal.throwIfAborted();
      slot.listener.started();
      const statusCode = request.forward.upgrade
        ? await this.openWebSocket(replica, request, slot)
        : await this.sendHttp(replica, request, slot);
      result = { ok: true, json: 'null', statusCode, runTimeMs: performance.now() - began };
    } catch (err) {
      result = { ok: false, error: this.failure(replica, slot, err), runTimeMs: performance.now() - began };
    }
    this.end(replica, request.runId, slot, result);
  }

  /** Sends the request; resolves with the status once the whole answer has been passed on. */
  private async sendHttp(replica: Replica, { forward }: ForwardRunRequest, slot: RunSlot): Promise<number> {
    const response = await this.connectionTo(replica.process).request({
      path: forward.url,
      method: forward.method as 'GET',
      headers: forward.headers as Record<string, string | string[]>,
      body: forward.body ?? null,
      signal: slot.stop.signal,
      // response_grace_period bounds a run; a stream may be quiet for as long as it likes within it.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    forward.respond({ kind: 'http', statusCode: response.statusCode, headers: response.headers, body: response.body });
    await finished(response.body);
    return response.statusCode;
  }

  /** Opens the WebSocket to the replica; resolves with 101 once the session has closed. */
  private async openWebSocket(replica: Replica, { forward }: ForwardRunRequest, slot: RunSlot): Promise<number> {
    const url = `${replica.process.origin.replace(/^http/, 'ws')}${forward.url}`;
    const socket = new WebSocket(url, forward.upgrade?.protocols ?? [], { headers: webSocketHeaders(forward.headers) });
    // Frames that came with the handshake are read as soon as the socket opens, before anyone could listen.
    const early = holdMessages(socket);
    const refused = new Promise<never>((_, reject) => {
      socket.once('unexpected-response', (_req, res) => {
        reject(new Error(`answered ${res.statusCode} to the WebSocket upgrade of ${forward.url}`));
        res.resume();
        socket.terminate();
      });
    });
    const onStop = () => socket.terminate();
    slot.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.race([once(socket, 'open', { signal: slot.stop.signal }), refused]);
      forward.respond({ kind: 'websocket', socket, early });
      if (socket.readyState !== WebSocket.CLOSED) await once(socket, 'close');
      slot.stop.signal.throwIfAborted();
      return 101;
    } finally {
      slot.stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** How a forwarded run that did not complete is reported. */
  private failure(replica: Replica, slot: RunSlot, err: unknown): SerializedError {
    const replaced = slot.replacedBecause ?? this.replacedBecause.get(replica.process);
    if (replaced !== undefined) return { name: 'ReplicaReplaced', message: replaced, crashed: true };
    if (slot.stop.signal.aborted) return { name: 'AbortError', message: String(slot.stop.signal.reason), aborted: true };
    const message = err instanceof Error ? err.message : String(err);
    if (!replica.process.wasReady)
      return { name: 'ReplicaCrashed', message: `The custom runtime did not start: ${message}`, crashed: true };
    return { name: 'UpstreamError', message: `The custom runtime's replica did not answer: ${message}`, upstream: true };
  }

  /** Ends a run once, whichever comes first: its answer or its replica's exit. */
  private end(replica: Replica, runId: string, slot: RunSlot, result: RunResult): void {
    if (slot.ended) return;
    slot.ended = true;
    this.pool.release(replica, runId);
    slot.listener.end(result);
  }

  private startServer(): ServerProcess {
    const { appDir, env, runtime, healthIntervalMs } = this.options;
    return new ServerProcess({
      argvFor: (port) => runtime.argv.map((arg) => (arg === String(runtime.port) ? String(port) : arg)),
      // Until a replica has shown where it listens, one ignoring PORT is looked for on the configured port.
      fallbackPort: this.portMode === 'unknown' ? runtime.port : undefined,
      appDir,
      env,
      readyPath: runtime.readycheckEndpoint,
      healthPath: runtime.healthcheckEndpoint,
      healthIntervalMs,
      readyTimeoutMs: runtime.readyTimeoutMs,
      log: this.log,
    });
  }

  private attach(replica: Replica): void {
    const server = replica.process;
    server.ready.then(
      () => this.learnPortMode(server),
      (err: Error) => this.log.error({ err: err.message }, 'a replica of the custom runtime did not start'),
    );
    server.on('unhealthy', (reason) => {
      this.log.warn({ port: server.port }, `replacing a replica of the custom runtime: ${reason}`);
      this.replacedBecause.set(server, `The custom runtime's replica was replaced: ${reason}`);
      this.pool.kill(replica);
    });
    server.on('exit', (error) => {
      const reason = this.replacedBecause.get(server);
      for (const [runId, slot] of this.pool.exited(replica)) {
        const ended = slot.replacedBecause ?? reason;
        const cause = ended === undefined ? error : { name: 'ReplicaReplaced', message: ended, crashed: true };
        this.end(replica, runId, slot, { ok: false, error: cause, runTimeMs: 0 });
      }
      this.replacedBecause.delete(server);
      void this.connections.get(server)?.destroy();
      this.connections.delete(server);
    });
  }

  private learnPortMode(server: ServerProcess): void {
    if (this.portMode !== 'unknown') return;
    this.portMode = server.ignoresPort ? 'configured-port' : 'per-replica';
    if (server.ignoresPort) {
      this.log.warn(
        `The custom runtime listens on its configured port ${this.options.runtime.port}, not on PORT, and no entrypoint ` +
          'argument names that port: it runs as one replica serving every call. Read PORT (or pass the port as an ' +
          'entrypoint argument) to get more.',
      );
    }
  }

  private connectionTo(server: ServerProcess): Pool {
    let pool = this.connections.get(server);
    if (!pool) {
      pool = new Pool(server.origin, { connections: this.options.scaling.replicaConcurrency * 2 });
      this.connections.set(server, pool);
    }
    return pool;
  }
}

/** The caller's headers for the WebSocket client: ws makes its own handshake headers. */
function webSocketHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith('sec-websocket-') || name === 'host') continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}
