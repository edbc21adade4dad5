// The project's loggers: pretty lines in a terminal, JSON lines otherwise (for log shippers).
import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import type PinoPretty from 'pino-pretty';

/** pino-pretty only where lines are pretty: it is loaded into every replica otherwise (~50 ms of a cold start). */
const loadPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export interface LogOptions {
  level: string;
  pretty: boolean;
  /** Where lines go; stdout when absent. Tests pass a stream to read the log back. */
  destination?: DestinationStream;
  /** pino's hooks: a replica's run logger copies each line into its run's logs through `logMethod`. */
  hooks?: LoggerOptions['hooks'];
}

export function wantsPrettyLogs(): boolean {
  const forced = process.env.LOG_FORMAT;
  if (forced === 'json') return false;
  if (forced === 'pretty') return true;
  return Boolean(process.stdout.isTTY);
}

export function createLogger(options: LogOptions, bindings: Record<string, unknown> = {}): Logger {
  // pino refuses `hooks: undefined`: only a logger that has hooks gets the key.
  const base = { level: options.level, base: bindings, ...(options.hooks ? { hooks: options.hooks } : {}) };
  if (options.destination) return pino(base, options.destination);
  // Synchronous pretty-printing keeps lines in order across the server and its replicas,
  // without the extra thread a pino transport would start in every replica.
  if (options.pretty) return pino(base, loadPretty()({ sync: true, colorize: true, ignore: 'pid,hostname' }));
  return pino(base, pino.destination({ fd: 1, sync: false }));
}

export type { Logger };
