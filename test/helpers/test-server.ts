// Starts a real server on a free loopback port for a test, with its log captured.
import { fileURLToPath } from 'node:url';
import { type RunningServer, type ServeOptions, startServer } from '../../src/serve.ts';

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export interface TestServer {
  url: string;
  running: RunningServer;
  /** Log lines written so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(appDirs: string[], options: Partial<ServeOptions> = {}): Promise<TestServer> {
  const lines: string[] = [];
  const running = await startServer({
    appDirs,
    host: '127.0.0.1',
    port: 0,
    projectId: 'p-test',
    logLevel: 'warn',
    logDestination: { write: (line: string) => void lines.push(line) },
    sseHeartbeatMs: 0,
    ...options,
  });
  await running.loaded;
  return {
    url: running.url,
    running,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    post: (path, body, headers = {}) =>
      fetch(`${running.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
    close: () => running.close(),
  };
}
