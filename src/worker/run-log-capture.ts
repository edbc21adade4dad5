// What a function logs during its run, copied into the run's logs: ctx.log (pino) and console.*.
// The lines still go where they always went (the server's log); a copy travels to the server on the
// run's port as `logs` messages, gathered per event-loop turn like chunks. Which run a console line
// belongs to is known through AsyncLocalStorage, since a replica may run several runs at once.
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import { pino } from 'pino';
import { createLogger, type Logger } from '../log.ts';
import type { ReplicaMessage, RunLogLine } from '../replica-protocol.ts';

/** A batch is posted at once when it reaches this many lines, so one message stays small. */
const MAX_BATCH_LINES = 256;

/** One run's lines on their way to the server. */
export class RunLogSink {
  private batch: RunLogLine[] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly post: (message: ReplicaMessage) => void) {}

  add(stream: RunLogLine['stream'], level: string, line: string): void {
    if (this.closed) return;
    this.batch.push({ at: Date.now(), stream, level, line });
    if (this.batch.length >= MAX_BATCH_LINES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is gathered; called before the run's `end`, so its lines arrive ahead of it. */
  flush(): void {
    this.scheduled = false;
    if (this.closed || this.batch.length === 0) return;
    const lines = this.batch;
    this.batch = [];
    this.post({ type: 'logs', lines });
  }

  /** The run has ended: lines logged later (a stray timer) are not its. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

const current = new AsyncLocalStorage<RunLogSink>();

/** Runs `body` with console lines (and ctx.log lines) going to `sink` too. */
export function withRunLogs<T>(sink: RunLogSink, body: () => T): T {
  return current.run(sink, body);
}

const CONSOLE_LEVELS = { log: 'info', info: 'info', debug: 'debug', trace: 'trace', warn: 'warn', error: 'error' } as const;

/**
 * Patches this replica thread's console once: each call still writes as before, and is copied to
 * the run it was made for, if any. The thread is the replica's own, so no other code is affected.
 */
export function captureConsole(): void {
  for (const [name, level] of Object.entries(CONSOLE_LEVELS) as Array<[keyof typeof CONSOLE_LEVELS, string]>) {
    const original = console[name].bind(console);
    console[name] = (...args: unknown[]) => {
      original(...args);
      current.getStore()?.add(level === 'warn' || level === 'error' ? 'stderr' : 'stdout', level, format(...args));
    };
  }
}

/**
 * The replica's logger for ctx.log. It lets every level through to its hook, which copies the line
 * to the run and writes it on to the server's log only at the configured level: a run's logs hold
 * its debug lines even when the server logs at info.
 */
export function createRunLogger(options: { level: string; pretty: boolean }, bindings: Record<string, unknown>): Logger {
  const threshold = options.level === 'silent' ? Number.POSITIVE_INFINITY : (pino.levels.values[options.level] ?? 30);
  return createLogger(
    {
      level: 'trace',
      pretty: options.pretty,
      hooks: {
        logMethod(args, method, level) {
          current.getStore()?.add('log', pino.levels.labels[level] ?? 'info', formatLogCall(args));
          if (level >= threshold) method.apply(this, args);
        },
      },
    },
    bindings,
  );
}

/** pino's call shapes, (msg, ...args) or (object | error, msg?, ...args), as one line of text. */
function formatLogCall(args: unknown[]): string {
  const [first, ...rest] = args;
  if (typeof first !== 'object' || first === null) return format(...args);
  const message = rest.length > 0 ? format(...rest) : '';
  if (first instanceof Error) return message ? `${message}: ${first.stack ?? first.message}` : (first.stack ?? first.message);
  const fields = safeJson(first);
  if (fields === '{}') return message;
  return message ? `${message} ${fields}` : fields;
}

function safeJson(value: object): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return format(value);
  }
}
