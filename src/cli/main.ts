// `cerebrium-local serve [APP_DIR ...]`: the command line. Returns the exit code.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { AuthOptions } from '../auth/setup-auth.ts';
import { tokenCommand } from '../auth/token-command.ts';
import { ConfigError } from '../config/load-config.ts';
import { DEFAULTS } from '../defaults.ts';
import { parseExecutionProvider } from '../models/provider-names.ts';
import { type RunningServer, type ServeOptions, startServer } from '../serve.ts';
import { initCommand } from './init-command.ts';
import { parityCommand } from './parity-command.ts';
import { recordCommand } from './record-command.ts';

const D = DEFAULTS;

export const USAGE = `Usage: cerebrium-local serve [APP_DIR ...] [options]

Serves each app folder (one with a cerebrium.toml; default ".") on
POST /v4/<projectId>/<appName>/<functionName>, as Cerebrium does.

Options:
  --port N           port to listen on (env PORT, default ${D.port}; 0 picks a free one)
  --host ADDR        address to listen on (env HOST, default ${D.host})
  --project-id ID    project id shown in URLs and given to functions as PROJECT_ID
                     (env CEREBRIUM_PROJECT_ID, default ${D.projectId}; any id in a path is accepted)
  --log-level LEVEL  trace, debug, info, warn, error or silent (env LOG_LEVEL, default ${D.logLevel})
  --max-queue N      runs per app that may wait for capacity before 429 (default ${D.maxQueue})
  --max-queue-bytes BYTES
                     bytes of params (request bodies) the runs waiting in one app's queue may hold
                     before 429 (default ${D.maxQueueBytes})
  --request-timeout-ms MS
                     how long a client has to send its whole request, headers and body, before it
                     gets 408 or its connection is closed; 0: no limit (default ${D.requestTimeoutMs})
  --stream-stall-ms MS
                     a stream whose client reads nothing for this long is ended and its run
                     cancelled; 0: wait forever (default ${D.streamStallMs})
  --abort-grace-ms N how long a function has to stop once aborted (timeout, caller gone)
                     before its replica is replaced (default ${D.abortGraceMs})
  --body-limit BYTES largest request body (default ${D.bodyLimit})
  --max-json-depth N deepest nesting of arrays and objects a body may have; 400 past it (default ${D.maxJsonDepth})
  --execution-provider cuda|webgpu|cpu
                     where ONNX model sessions run, instead of what [cerebrium.hardware].compute
                     picks (GPU: cuda, then webgpu, then cpu; "CPU": cpu); a provider named here
                     must load: a model load fails with the reason instead of falling back
  --strict-provider  a GPU app's model loads fail with the reason when its GPU provider cannot be
                     used, instead of falling back to the next one (the CUDA image turns it on)
  --python PATH      the interpreter for Python apps (main.py) (default ${D.python})
  --install-deps     install each Python app's [cerebrium.dependencies.pip] into a virtual environment
                     of its own, DATA_DIR/venvs/<app>-<hash>, reused while the table and the interpreter
                     are unchanged, and run the app on it (apt and conda packages are only named in a warning)
  --healthcheck-interval-ms MS
                     how often a custom runtime's healthcheck_endpoint is polled; 3 failures in a row
                     replace the replica (default ${D.healthcheckIntervalMs})
  --data-dir DIR     every run is kept in DIR/runs.sqlite (default ${D.dataDir})
  --database-url URL keep runs in this Postgres database instead (env DATABASE_URL): every server on
                     the same database and apps is one deployment, with one view of runs and one
                     async queue (docs/deployment.md)
  --run-lease-ms MS  with --database-url: how long a server holds its unfinished runs without renewing
                     before another server takes them over (default ${D.runLeaseMs})
  --webhook-retry-delay-ms MS
                     wait between the 3 attempts of a ?webhookEndpoint= delivery (default ${D.webhookRetryDelayMs})
  --webhook-deny-private
                     refuse webhooks to loopback and private addresses too (link-local and cloud-metadata
                     addresses always are), checked on what the host resolves to at the call and at delivery
  --pass-env NAME    hand this variable of the server's environment to every replica (repeatable); replicas
                     otherwise get only PATH, HOME, LANG, LC_*, TZ, TMPDIR, NODE_ENV and their app's
                     .env, APP_NAME and PROJECT_ID
  --shutdown-grace-ms N
                     on SIGTERM/SIGINT, how long accepted runs get to finish (default ${D.shutdownGraceMs})
  --retain-runs N    keep at most N runs per app in the run store, deleting the oldest finished ones
                     (at start, then every minute; 0: no limit) (default ${D.retainRuns})
  --retain-runs-days N
                     delete finished runs older than N days from the run store (at start, then every
                     minute; 0 keeps them; --keep-runs-days N is the same) (default ${D.retainRunsDays})
  --max-stored-result-bytes BYTES
                     store a larger result cut to this size, flagged resultTruncated in the runs API;
                     the caller and the webhook still get all of it (default ${D.maxStoredResultBytes})
  --no-dashboard     do not serve the dashboard (apps, runs, logs and replicas in a browser) at /
  --watch            reload an app when its cerebrium.toml, main.*, functions/ or models/ change
                     (runs in flight finish on the old code; a broken change keeps the old code serving)
  --allow-faults     honour the x-cerebrium-local-fault header (status=, latency=, cold, drop-after=,
                     reset, webhook=) and serve GET/PUT/DELETE /_local/faults; off, the header is
                     ignored (docs/testing-your-client.md)
  --faults FILE      server-wide fault rules (TOML: app and function patterns, probability, fault);
                     reloaded with --watch
  --faults-seed N    seed of the fault rules' draws, for repeatable runs (random when absent)
  -h, --help         show this text

Auth, for apps with disable_auth = false in [cerebrium.deployment] (others are public):
  --jwt-secret SECRET      verify HS256 tokens with this secret (env CEREBRIUM_JWT_SECRET)
  --jwt-public-key FILE    verify with a PEM public key: RSA (RS256), EC (ES256/384/512) or Ed25519 (EdDSA)
  --jwks FILE_OR_URL       verify with a JSON Web Key Set, from a file or fetched from a URL
                           (with none of these, a dev secret is generated once as jwt-secret in the
                           --data-dir folder, and a dev token is printed at start)
  --insecure-skip-signature
                           accept tokens WITHOUT checking their signature (projectId, exp, nbf only),
                           to use real Cerebrium tokens offline; never on a reachable server

Other commands:
  cerebrium-local token --project ID [--expires-in 1h]   print a token for the configured key (token --help)
  cerebrium-local init [DIR] [--name NAME] [--force]    write a new app that serve runs at once (init --help)
  cerebrium-local record --base-url URL --app APP FILE.jsonl   record a deployment's answers as golden files (record --help)
  cerebrium-local parity GOLDEN_DIR [--base-url URL]    replay golden files against this emulator, print each difference (parity --help)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'token') return tokenCommand(rest);
  if (command === 'init') return initCommand(rest);
  if (command === 'record') return recordCommand(rest);
  if (command === 'parity') return parityCommand(rest);
  if (command !== 'serve') {
    process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  return serve(rest);
}

function intOption(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be an integer of at least ${min}, got "${value}"`);
  return n;
}

// The options `serve` takes, as parseArgs reads them; the help text is USAGE above.
const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'project-id': { type: 'string' },
  'log-level': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-queue-bytes': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'stream-stall-ms': { type: 'string' },
  'abort-grace-ms': { type: 'string' },
  'body-limit': { type: 'string' },
  'execution-provider': { type: 'string' },
  'strict-provider': { type: 'boolean' },
  'jwt-secret': { type: 'string' },
  'jwt-public-key': { type: 'string' },
  jwks: { type: 'string' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  'run-lease-ms': { type: 'string' },
  python: { type: 'string' },
  'healthcheck-interval-ms': { type: 'string' },
  'install-deps': { type: 'boolean' },
  'insecure-skip-signature': { type: 'boolean' },
  'webhook-retry-delay-ms': { type: 'string' },
  'webhook-deny-private': { type: 'boolean' },
  'no-dashboard': { type: 'boolean' },
  'pass-env': { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  'allow-faults': { type: 'boolean' },
  faults: { type: 'string' },
  'faults-seed': { type: 'string' },
  'shutdown-grace-ms': { type: 'string' },
  'keep-runs-days': { type: 'string' },
  'retain-runs-days': { type: 'string' },
  'retain-runs': { type: 'string' },
  'max-stored-result-bytes': { type: 'string' },
  'max-json-depth': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parseServeArgs(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: SERVE_OPTIONS });
}

type ServeValues = ReturnType<typeof parseServeArgs>['values'];

async function serve(argv: string[]): Promise<number> {
  let running: RunningServer;
  try {
    const { values, positionals } = parseServeArgs(argv);
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const envSecret = takeEnvSecret();
    running = await startServer(serveOptions(values, positionals, envSecret));
  } catch (err) {
    process.stderr.write(`cerebrium-local: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (!(await appsLoaded(running))) return 1;
  return exitCodeOnSignal(running);
}

function takeEnvSecret(): string | undefined {
  const envSecret = process.env.CEREBRIUM_JWT_SECRET;
  // Read once, then gone from process.env: nothing later (a replica's environment, --pass-env, a
  // dependency) can pick it up there. /proc/self/environ still shows it: see docs/security.md.
  delete process.env.CEREBRIUM_JWT_SECRET;
  return envSecret;
}

// Options are read in the order they are listed, so the first bad one named in an error stays the same.
function serveOptions(values: ServeValues, positionals: string[], envSecret: string | undefined): ServeOptions {
  return {
    appDirs: positionals.length ? positionals : ['.'],
    port: intOption('port', values.port ?? process.env.PORT, D.port),
    host: values.host ?? process.env.HOST ?? D.host,
    projectId: values['project-id'] ?? process.env.CEREBRIUM_PROJECT_ID ?? D.projectId,
    logLevel: values['log-level'] ?? process.env.LOG_LEVEL ?? D.logLevel,
    maxQueue: intOption('max-queue', values['max-queue'], D.maxQueue),
    maxQueueBytes: intOption('max-queue-bytes', values['max-queue-bytes'], D.maxQueueBytes),
    requestTimeoutMs: intOption('request-timeout-ms', values['request-timeout-ms'], D.requestTimeoutMs),
    streamStallMs: intOption('stream-stall-ms', values['stream-stall-ms'], D.streamStallMs),
    abortGraceMs: intOption('abort-grace-ms', values['abort-grace-ms'], D.abortGraceMs),
    bodyLimit: intOption('body-limit', values['body-limit'], D.bodyLimit),
    executionProvider: values['execution-provider'] === undefined ? undefined : parseExecutionProvider(values['execution-provider']),
    strictProvider: values['strict-provider'] === true || process.env.CEREBRIUM_LOCAL_STRICT_PROVIDER === '1',
    auth: authOptions(values, envSecret),
    dataDir: values['data-dir'] ?? D.dataDir,
    databaseUrl: values['database-url'] ?? (process.env.DATABASE_URL || undefined),
    runLeaseMs: intOption('run-lease-ms', values['run-lease-ms'], D.runLeaseMs, 30),
    python: values.python ?? D.python,
    healthcheckIntervalMs: intOption('healthcheck-interval-ms', values['healthcheck-interval-ms'], D.healthcheckIntervalMs),
    installDeps: values['install-deps'] ?? false,
    webhookRetryDelayMs: intOption('webhook-retry-delay-ms', values['webhook-retry-delay-ms'], D.webhookRetryDelayMs),
    webhookDenyPrivate: values['webhook-deny-private'] ?? false,
    dashboard: !values['no-dashboard'],
    passEnv: values['pass-env'] ?? [],
    watch: values.watch ?? false,
    allowFaults: values['allow-faults'] ?? false,
    faultsFile: values.faults,
    faultsSeed: values['faults-seed'] === undefined ? undefined : intOption('faults-seed', values['faults-seed'], 0),
    shutdownGraceMs: intOption('shutdown-grace-ms', values['shutdown-grace-ms'], D.shutdownGraceMs),
    retainRunsDays: retainRunsDaysOption(values),
    retainRuns: intOption('retain-runs', values['retain-runs'], D.retainRuns),
    maxStoredResultBytes: intOption('max-stored-result-bytes', values['max-stored-result-bytes'], D.maxStoredResultBytes),
    maxJsonDepth: intOption('max-json-depth', values['max-json-depth'], D.maxJsonDepth, 1),
    print: (line) => process.stdout.write(`${line}\n`),
  };
}

function authOptions(values: ServeValues, envSecret: string | undefined): AuthOptions {
  return {
    // The environment's secret steps aside for a key given on the command line.
    jwtSecret:
      values['jwt-secret'] ??
      ((values['jwt-public-key'] ?? values.jwks ?? values['insecure-skip-signature']) !== undefined ? undefined : envSecret),
    jwtPublicKeyFile: values['jwt-public-key'],
    jwks: values.jwks,
    insecureSkipSignature: values['insecure-skip-signature'],
  };
}

// --keep-runs-days is the option's earlier name, still taken.
function retainRunsDaysOption(values: ServeValues): number {
  return values['retain-runs-days'] !== undefined
    ? intOption('retain-runs-days', values['retain-runs-days'], D.retainRunsDays)
    : intOption('keep-runs-days', values['keep-runs-days'], D.retainRunsDays);
}

/** Waits for the apps' functions to load; on failure says why, closes the server and returns false. */
async function appsLoaded(running: RunningServer): Promise<boolean> {
  try {
    await running.loaded;
    return true;
  } catch (err) {
    process.stderr.write(
      `cerebrium-local: could not load the app's functions:\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    await running.close();
    return false;
  }
}

/** Serves until SIGINT or SIGTERM, then closes: 0 when the close went well, 1 when it failed. */
function exitCodeOnSignal(running: RunningServer): Promise<number> {
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
