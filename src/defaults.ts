// Every default of the server in one place: the CLI's usage text, `startServer` and the docs
// (checked by test/defaults-docs.test.ts) all read them from here.

export const DEFAULTS = {
  port: 7900,
  host: '127.0.0.1',
  projectId: 'p-local',
  logLevel: 'info',
  /** The interpreter that runs Python apps' replicas. */
  python: 'python3',
  /** Largest request body, in bytes (413 past it). */
  bodyLimit: 16 * 1024 * 1024,
  /** Runs per app that may wait for capacity before callers get 429. */
  maxQueue: 1000,
  /** Bytes of params (request bodies) that runs waiting in one app's queue may hold before callers get 429. */
  maxQueueBytes: 256 * 1024 * 1024,
  /** How long a client has to send a whole request (headers and body) before it gets 408 or is closed. */
  requestTimeoutMs: 60_000,
  /** How long a stream's client may go without reading before the stream ends and its run is cancelled. */
  streamStallMs: 60_000,
  /** How long an aborted function gets to return before its replica is replaced. */
  abortGraceMs: 5_000,
  /** Idle time before an SSE keep-alive comment. */
  sseHeartbeatMs: 15_000,
  /** Where the run store (runs.sqlite) and the dev JWT secret live, for the CLI. */
  dataDir: '.cerebrium-local',
  /** Deepest nesting of arrays and objects a body may have (400 json_too_deep past it). */
  maxJsonDepth: 512,
  /** Finished runs older than this many days are deleted from the run store. */
  retainRunsDays: 7,
  /** Most runs the store keeps per app; the oldest finished ones beyond it are deleted. */
  retainRuns: 10_000,
  /** Results larger than this many bytes are stored cut to it, flagged as truncated (the caller gets all of it). */
  maxStoredResultBytes: 16 * 1024 * 1024,
  /** Wait between the 3 attempts of a webhook delivery (Cerebrium: up to 5 s). */
  webhookRetryDelayMs: 5_000,
  /** How long one webhook attempt may take. */
  webhookTimeoutMs: 10_000,
  /** How often a ready custom-runtime replica's healthcheck_endpoint is polled. */
  healthcheckIntervalMs: 5_000,
  /** How long a custom-runtime replica may take to pass its readycheck, unless deployment_initialization_timeout says. */
  customReadyTimeoutMs: 600_000,
  /** A run's logs keep its last this many lines (older ones are dropped, and the logs flagged as cut). */
  runLogMaxLines: 1_000,
  /** …and at most this many bytes of their text. */
  runLogMaxBytes: 256 * 1024,
  /** On SIGTERM, how long accepted runs (and webhooks) get to finish. */
  shutdownGraceMs: 30_000,
  /** --database-url: how long a server holds its unfinished runs without renewing (renewed every third of it). */
  runLeaseMs: 15_000,
  /** --database-url: how often a server looks at the shared queue without being woken (the safety net for a missed NOTIFY). */
  queuePollMs: 1_000,
} as const;
