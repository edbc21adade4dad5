// One replica of a custom runtime: the app's entrypoint run as a process with PORT set to a port of
// its own. It is ready once its readycheck answers 2xx (or, without one, once its port takes
// connections): that wait is the cold start. While it runs, its healthcheck is polled; failing
// HEALTH_FAILURES_ALLOWED times in a row makes it unhealthy, and the backend replaces it. What it
// prints becomes log lines; it runs in a process group of its own, so a shell entrypoint's
// children stop with it.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { request } from 'undici';
import type { SerializedError } from '../errors.ts';

/** A stopping replica gets this long after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2_000;
/** Failed healthchecks in a row before a replica is replaced. */
export const HEALTH_FAILURES_ALLOWED = 3;
/** Lines of output kept to explain a replica that never became ready. */
const OUTPUT_TAIL_LINES = 20;

/**
 * Process groups of the replicas still running. A replica runs in a group of its own (so a shell
 * entrypoint's children stop with it), which also means it outlives a server that exits without
 * closing (an uncaught error, process.exit): those are killed as the server's process exits.
 */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

export interface ServerProcessOptions {
  /** The entrypoint for a replica given `port`: an argument equal to the configured port is replaced by it. */
  argvFor(port: number): string[];
  /**
   * The port in cerebrium.toml: when nothing listens there as this replica starts, a server that
   * ignores PORT and listens there is found too (and then runs alone).
   */
  fallbackPort?: number;
  appDir: string;
  env: Record<string, string>;
  /** Polled until it answers 2xx; without it, readiness is the port taking connections. */
  readyPath?: string;
  /** Polled every `healthIntervalMs` once ready; absent, only the process exiting counts. */
  healthPath?: string;
  healthIntervalMs: number;
  /** How long the replica may take to become ready. */
  readyTimeoutMs: number;
  log: Logger;
}

interface ServerProcessEvents {
  /** The process has exited; `error` says how, as a run that was on it should report it. */
  exit: [error: SerializedError];
  /** Its healthcheck failed HEALTH_FAILURES_ALLOWED times in a row. */
  unhealthy: [reason: string];
}

export class ServerProcess extends EventEmitter<ServerProcessEvents> {
  /** Resolves once the server answers its readycheck; rejects if it exits or times out first. */
  readonly ready: Promise<void>;
  /** The port it was given (PORT); 0 until it has one. */
  port = 0;
  /** Where the server listens, once ready: `http://127.0.0.1:PORT`. */
  origin = '';
  /** Set when the server listens on the configured port instead of PORT. */
  ignoresPort = false;
  private child: ChildProcess | undefined;
  /** The configured port, when it was free as this replica started. */
  private fallbackPort: number | undefined;
  private readonly tail: string[] = [];
  private exited = false;
  private wasUp = false;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ServerProcessOptions) {
    super();
    this.ready = this.launch();
    this.ready.then(
      () => this.watchHealth(),
      () => this.kill(),
    );
  }

  get wasReady(): boolean {
    return this.wasUp;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** At once, the whole process group. */
  kill(): void {
    this.signal('SIGKILL');
  }

  /** SIGTERM, then SIGKILL if it has not exited within STOP_GRACE_MS. */
  async stop(): Promise<void> {
    const child = this.child;
    if (this.exited || !child) {
      this.gone({ name: 'ReplicaStopped', message: 'The replica was stopped before it started', crashed: true });
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Finds a port, starts the entrypoint with it, and waits for the readycheck. */
  private async launch(): Promise<void> {
    const port = await freePort();
    const { fallbackPort } = this.options;
    this.fallbackPort = fallbackPort !== undefined && (await portIsFree(fallbackPort)) ? fallbackPort : undefined;
    if (this.exited) throw new Error('The replica was stopped before it started');
    this.port = port;
    this.origin = `http://127.0.0.1:${port}`;
    const [command = '', ...args] = this.options.argvFor(port);
    const child = spawn(command, args, {
      cwd: this.options.appDir,
      // The replica's whole environment (src/config/app-env.ts): none of the server's other variables.
      env: { ...this.options.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    if (child.pid !== undefined) running.add(child.pid);
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (source) createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => this.logLine(stream, line));
    }
    const exitedEarly = new Promise<never>((_, reject) => {
      this.once('exit', (error) => reject(new Error(error.message)));
    });
    // Past readiness, an exit is the 'exit' event's to report.
    exitedEarly.catch(() => undefined);
    child.on('error', (err) => this.gone({ name: 'ReplicaCrashed', message: `Could not start ${command}: ${err.message}`, crashed: true }));
    child.on('exit', (code, signal) => this.gone(processExited(code, signal)));
    await Promise.race([this.becomeReady(), exitedEarly]);
  }

  /** The process is gone (or will never start): says so once. Before it was ready, with its last output. */
  private gone(error: SerializedError): void {
    if (this.child?.pid !== undefined) running.delete(this.child.pid);
    if (this.exited) return;
    this.exited = true;
    clearInterval(this.healthTimer);
    const told =
      !this.wasUp && this.tail.length > 0 ? { ...error, message: `${error.message}; its last output:\n${this.tail.join('\n')}` } : error;
    this.emit('exit', told);
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (this.exited || pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      this.child?.kill(signal);
    }
  }

  /** Polls the readycheck (on PORT, and on the configured port when given) until one answers. */
  private async becomeReady(): Promise<void> {
    const { readyPath, readyTimeoutMs } = this.options;
    const { port, fallbackPort } = this;
    const deadline = Date.now() + readyTimeoutMs;
    for (let wait = 20; !this.exited; wait = Math.min(wait * 2, 250)) {
      if (await answers(port, readyPath)) break;
      if (fallbackPort !== undefined && (await answers(fallbackPort, readyPath))) {
        this.origin = `http://127.0.0.1:${fallbackPort}`;
        this.ignoresPort = true;
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`The custom runtime did not answer ${readyPath ?? 'on its port'} within ${readyTimeoutMs} ms of starting`);
      }
      await sleep(wait);
    }
    if (this.exited) return;
    this.wasUp = true;
  }

  private watchHealth(): void {
    const { healthPath, healthIntervalMs } = this.options;
    if (healthPath === undefined || this.exited) return;
    let failures = 0;
    let checking = false;
    this.healthTimer = setInterval(async () => {
      if (checking) return;
      checking = true;
      const healthy = await answers(new URL(this.origin).port, healthPath, healthIntervalMs);
      if (this.exited) return;
      checking = false;
      failures = healthy ? 0 : failures + 1;
      if (failures === HEALTH_FAILURES_ALLOWED && !this.exited) {
        this.emit('unhealthy', `its healthcheck ${healthPath} failed ${failures} times in a row`);
      }
    }, healthIntervalMs);
    this.healthTimer.unref();
  }

  private logLine(stream: 'stdout' | 'stderr', line: string): void {
    this.tail.push(line);
    if (this.tail.length > OUTPUT_TAIL_LINES) this.tail.shift();
    this.options.log[stream === 'stderr' ? 'warn' : 'info']({ stream, port: this.port }, line);
  }
}

/** Whether the server on `port` answers `path` with 2xx (or, with no path, takes a connection). */
async function answers(port: number | string, path: string | undefined, timeoutMs = 1_000): Promise<boolean> {
  if (path === undefined) return acceptsConnections(Number(port));
  try {
    const { statusCode, body } = await request(`http://127.0.0.1:${port}${path}`, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await body.dump();
    return statusCode >= 200 && statusCode < 300;
  } catch {
    return false;
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port nothing listens on now, as the system hands them out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on `port` yet (so a server that ignores PORT could take it). */
async function portIsFree(port: number): Promise<boolean> {
  return !(await acceptsConnections(port));
}

function processExited(code: number | null, signal: NodeJS.Signals | null): SerializedError {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return {
    name: 'ReplicaCrashed',
    message: `The custom runtime's process ${how}; a new replica takes its place`,
    crashed: true,
  };
}
