// Shared pieces of the async-run and webhook tests: temp data dirs, polling the runs API, a webhook
// receiver on loopback, and the CLI as a child process (for kill -9 and SIGTERM).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiRun } from '../src/http/runs-routes.ts';

export const PROJECT = 'p-test';
export const ASYNC_APP = fileURLToPath(new URL('./fixtures/async-app', import.meta.url));
export const NARROW_APP = fileURLToPath(new URL('./fixtures/async-app/narrow', import.meta.url));
const CLI = fileURLToPath(new URL('../bin/cerebrium-local.mjs', import.meta.url));

export interface TempDir {
  path: string;
  remove(): void;
}

export function tempDataDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'cerebrium-local-runs-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const runsPath = (appName: string) => `/v2/projects/${PROJECT}/apps/${PROJECT}-${appName}/runs`;

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export async function getRun(baseUrl: string, appName: string, runId: string): Promise<ApiRun> {
  const { status, body } = await getJson<{ item: ApiRun }>(`${baseUrl}${runsPath(appName)}/${runId}`);
  if (status !== 200) throw new Error(`GET run ${runId}: ${status} ${JSON.stringify(body)}`);
  return body.item;
}

/** Polls the runs API until `done(run)` holds, or fails after `timeoutMs`. */
export async function pollRun(
  baseUrl: string,
  appName: string,
  runId: string,
  done: (run: ApiRun) => boolean = (run) => run.status !== 'pending' && run.status !== 'running',
  timeoutMs = 10_000,
): Promise<ApiRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(baseUrl, appName, runId);
    if (done(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} never got there; last seen ${JSON.stringify(run)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Resolves once `n` requests in all have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

/**
 * A webhook endpoint on 127.0.0.1. `answer(n)` gives the status for the n-th request (1-based);
 * `null` holds that request open without answering, to make the sender time out.
 */
export async function startReceiver(answer: (n: number) => number | null = () => 200): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const waiters: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now() });
      for (const wake of waiters.splice(0)) wake();
      const status = answer(received.length);
      if (status !== null) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    async waitFor(n, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} webhook requests, got ${received.length}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(50)]);
      }
      return received;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A loopback port that nothing listens on: bound, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | NodeJS.Signals>;
}

/** `cerebrium-local serve <appDirs> --port 0 --data-dir <dataDir>`, ready once it prints "Ready on". */
export async function spawnServer(appDirs: string[], dataDir: string, extraArgs: string[] = []): Promise<ChildServer> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', ...appDirs, '--port', '0', '--data-dir', dataDir, '--project-id', PROJECT, ...extraArgs],
    { env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Ready on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((how) => reject(new Error(`the server exited (${how}) before it was ready:\n${output}`)));
  });
  return { url, child, output: () => output, exited };
}
