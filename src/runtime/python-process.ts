// One Python process running src/python/bridge.py, and the JSON-lines protocol on its fd 3. It
// knows nothing of scheduling: it starts the process, reports when the app is imported, passes
// messages about runs on, turns what the process prints into log lines, and says why it exited.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Duplex, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { SerializedError } from '../errors.ts';
import type { ExportInfo, ProcessReplicaMessage, ProcessServerMessage, ReplicaMessage, RunLogLine } from '../replica-protocol.ts';

const BRIDGE = fileURLToPath(new URL('../python/bridge.py', import.meta.url));
/** How long a stopping process gets after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2_000;

export interface PythonProcessOptions {
  python: string;
  appDir: string;
  env: Record<string, string>;
  concurrency: number;
  /** Lines the app prints, and the process's own troubles, go here (already tagged with the app). */
  log: Logger;
}

interface PythonProcessEvents {
  /** A message about one run. */
  run: [runId: string, message: ReplicaMessage];
  /** The process has exited; `error` says how, as a run that was on it should report it. */
  exit: [error: SerializedError];
}

/** Python's logging levels → pino's. */
const LEVELS: Record<string, 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
};

export class PythonProcess extends EventEmitter<PythonProcessEvents> {
  /** Resolves once the app is imported (the end of the cold start); rejects if it could not be. */
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly channel: Duplex;
  private exited = false;
  private imported = false;

  constructor(private readonly options: PythonProcessOptions) {
    super();
    this.child = spawnBridge(options, ['serve', options.appDir, String(options.concurrency)]);
    this.channel = this.child.stdio[3] as Duplex;
    let onReady!: () => void;
    let onFailed!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      onFailed = reject;
    });
    // Nobody may be waiting for readiness (a replica started for a run); its failure still ends that run.
    this.ready.catch(() => undefined);
    let importError: SerializedError | undefined;

    readLines(this.channel, (line) => {
      const message = parseLine(line);
      if (!message) return this.options.log.warn({ line }, 'python replica sent a line that is not protocol');
      if (message.type === 'ready') {
        this.imported = true;
        onReady();
      } else if (message.type === 'failed') importError = message.error;
      else if (message.type === 'log') this.logLine(message.runId, message.stream, message.line, message.level);
      else if ('runId' in message) this.emit('run', message.runId, message as ReplicaMessage);
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = this.child[stream];
      if (source) readLines(source, (line) => this.logLine(null, stream, line));
    }
    const gone = (error: SerializedError) => {
      if (this.exited) return;
      this.exited = true;
      onFailed(new PythonAppError(error));
      this.emit('exit', error);
    };
    // A process that cannot be started at all (no such interpreter) emits 'error' and no 'exit'.
    this.child.on('error', (err) =>
      gone({ name: 'ReplicaCrashed', message: `Could not start ${options.python}: ${err.message} (use --python PATH)`, crashed: true }),
    );
    this.child.on('exit', (code, signal) => gone(importError ? importFailed(importError) : processExited(code, signal)));
  }

  /** Whether the app was ever imported: a process that could not import it is not restarted by itself. */
  get wasReady(): boolean {
    return this.imported;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: ProcessServerMessage): void {
    if (!this.exited && this.channel.writable) this.channel.write(`${JSON.stringify(message)}\n`);
  }

  /** At once: for a replica whose function ignores its abort. */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL if it has not exited within STOP_GRACE_MS. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private logLine(runId: string | null, stream: string, line: string, level?: string): void {
    const fields = runId === null ? { stream } : { run_id: runId, stream };
    const method = level ? (LEVELS[level] ?? 'info') : stream === 'stderr' ? 'warn' : 'info';
    this.options.log[method](fields, line);
    // A line printed for a run is kept with it too, whatever the server's log level.
    if (runId !== null) {
      const kept: RunLogLine = {
        at: Date.now(),
        stream: stream === 'logging' ? 'log' : stream === 'stderr' ? 'stderr' : 'stdout',
        level: method,
        line,
      };
      this.emit('run', runId, { type: 'logs', lines: [kept] });
    }
  }
}

/** An error from the Python side, carried as the replica protocol describes errors. */
export class PythonAppError extends Error {
  constructor(readonly serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    if (serialized.stack) this.stack = serialized.stack;
  }
}

/** Imports the app in a throwaway process and lists its exports, with each function's parameter schema. */
export async function inspectPythonApp(options: Omit<PythonProcessOptions, 'concurrency'>): Promise<ExportInfo[]> {
  const child = spawnBridge(options, ['inspect', options.appDir]);
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) if (stream) readLines(stream, (line) => output.push(line));
  let answer: ProcessReplicaMessage | undefined;
  readLines(child.stdio[3] as Readable, (line) => {
    answer ??= parseLine(line);
  });
  const [code] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`Could not start ${options.python}: ${err.message} (use --python PATH)`)));
    child.once('exit', (...status) => resolve(status));
  });
  if (answer?.type === 'exports') return answer.exports;
  if (answer?.type === 'failed') throw new PythonAppError(importFailed(answer.error));
  throw new Error(`Inspecting ${options.appDir}/main.py failed (exit code ${code}): ${output.join('\n') || 'no output'}`);
}

function spawnBridge(options: Omit<PythonProcessOptions, 'concurrency'>, args: string[]): ChildProcess {
  return spawn(options.python, ['-u', BRIDGE, ...args], {
    cwd: options.appDir,
    // The replica's whole environment (src/config/app-env.ts): none of the server's other variables.
    // No bytecode caches are written: a .pyc keyed on a source's mtime in whole seconds would hand a
    // reload (--watch) the code from before an edit made within the same second, of the same size.
    env: { ...options.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine);
}

function parseLine(line: string): ProcessReplicaMessage | undefined {
  try {
    const value = JSON.parse(line) as ProcessReplicaMessage;
    return typeof value === 'object' && value !== null && typeof value.type === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function importFailed(error: SerializedError): SerializedError {
  const hint =
    error.name === 'ModuleNotFoundError'
      ? ' (list it in [cerebrium.dependencies.pip] and serve with --install-deps, or install it into the interpreter given by --python)'
      : '';
  return { ...error, message: `The app's main.py could not be imported: ${error.name}: ${error.message}${hint}`, crashed: true };
}

function processExited(code: number | null, signal: NodeJS.Signals | null): SerializedError {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return {
    name: 'ReplicaCrashed',
    message: `The replica running this function crashed (the python process ${how}); a new replica takes its place`,
    crashed: true,
  };
}
