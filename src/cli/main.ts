// `cerebrium-local serve [APP_DIR ...]`: the command line. Returns the exit code.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load-config.ts';
import { startServer, type RunningServer } from '../serve.ts';

const USAGE = `Usage: cerebrium-local serve [APP_DIR ...] [options]

Serves each app folder (one with a cerebrium.toml; default ".") on
POST /v4/<projectId>/<appName>/<functionName>, as Cerebrium does.

Options:
  --port N           port to listen on (env PORT, default 7900; 0 picks a free one)
  --host ADDR        address to listen on (env HOST, default 127.0.0.1)
  --project-id ID    project id shown in URLs and given to functions as PROJECT_ID
                     (env CEREBRIUM_PROJECT_ID, default p-local; any id in a path is accepted)
  --log-level LEVEL  trace, debug, info, warn, error or silent (env LOG_LEVEL, default info)
  --max-queue N      runs per app that may wait for capacity before 429 (default 1000)
  --abort-grace-ms N how long a function has to stop once aborted (timeout, caller gone)
                     before its replica is replaced (default 5000)
  --body-limit BYTES largest request body (default 16777216)
  -h, --help         show this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  return serve(rest);
}

function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

async function serve(argv: string[]): Promise<number> {
  let running: RunningServer;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'project-id': { type: 'string' },
        'log-level': { type: 'string' },
        'max-queue': { type: 'string' },
        'abort-grace-ms': { type: 'string' },
        'body-limit': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    running = await startServer({
      appDirs: positionals.length ? positionals : ['.'],
      port: intOption('port', values.port ?? process.env.PORT, 7900),
      host: values.host ?? process.env.HOST ?? '127.0.0.1',
      projectId: values['project-id'] ?? process.env.CEREBRIUM_PROJECT_ID ?? 'p-local',
      logLevel: values['log-level'] ?? process.env.LOG_LEVEL ?? 'info',
      maxQueue: intOption('max-queue', values['max-queue'], 1000),
      abortGraceMs: intOption('abort-grace-ms', values['abort-grace-ms'], 5000),
      bodyLimit: intOption('body-limit', values['body-limit'], 16 * 1024 * 1024),
      print: (line) => process.stdout.write(`${line}\n`),
    });
  } catch (err) {
    process.stderr.write(`cerebrium-local: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }

  try {
    await running.loaded;
  } catch (err) {
    process.stderr.write(`cerebrium-local: could not load the app's functions:\n${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    await running.close();
    return 1;
  }

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      running.logger.info({ signal }, 'shutting down');
      running.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
