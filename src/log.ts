// The project's loggers: pretty lines in a terminal, JSON lines otherwise (for log shippers).
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export interface LogOptions {
  level: string;
  pretty: boolean;
  /** Where lines go; stdout when absent. Tests pass a stream to read the log back. */
  destination?: DestinationStream;
}

export function wantsPrettyLogs(): boolean {
  const forced = process.env.LOG_FORMAT;
  if (forced === 'json') return false;
  if (forced === 'pretty') return true;
  return Boolean(process.stdout.isTTY);
}

export function createLogger(options: LogOptions, bindings: Record<string, unknown> = {}): Logger {
  const base = { level: options.level, base: bindings };
  if (options.destination) return pino(base, options.destination);
  // Synchronous pretty-printing keeps lines in order across the server and its replicas,
  // without the extra thread a pino transport would start in every replica.
  if (options.pretty) return pino(base, pretty({ sync: true, colorize: true, ignore: 'pid,hostname' }));
  return pino(base, pino.destination({ fd: 1, sync: false }));
}

export type { Logger };
