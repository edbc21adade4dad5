// [cerebrium.runtime.custom]: an app that is its own web server. Each replica is the entrypoint
// started with a PORT of its own; every method and path under /v4/{p}/{app}/ is forwarded to it,
// bodies streamed both ways, WebSockets included, as runs (recorded, queued, timed out, authed).
// The servers here are the repository's examples (examples/custom-runtime), copied with the
// cerebrium.toml each test needs.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { startServer } from '../src/serve.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/custom-runtime/', import.meta.url));
// The interpreter itself rather than a shim on PATH (pyenv's costs ~100 ms a start).
const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const scratch = mkdtempSync(join(tmpdir(), 'cl-custom-'));
let servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface AppOptions {
  runtime?: string;
  scaling?: string;
  deployment?: string;
  env?: string;
}

/** A copy of the example server as an app named `name`, with the given tables. */
function pythonApp(name: string, options: AppOptions = {}): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  copyFileSync(join(EXAMPLE, 'server.py'), join(dir, 'server.py'));
  const runtime = options.runtime ?? `entrypoint = ["${PYTHON}", "server.py", "8192"]\nport = 8192\nreadycheck_endpoint = "/ready"`;
  writeFileSync(
    join(dir, 'cerebrium.toml'),
    `[cerebrium.deployment]\nname = "${name}"\n${options.deployment ?? 'disable_auth = true'}\n\n` +
      `[cerebrium.runtime.custom]\n${runtime}\n\n[cerebrium.scaling]\n${options.scaling ?? 'min_replicas = 0\nmax_replicas = 2\nreplica_concurrency = 4'}\n`,
  );
  if (options.env) writeFileSync(join(dir, '.env'), options.env);
  return dir;
}

async function serve(dirs: string[], options: Parameters<typeof startTestServer>[1] = {}): Promise<TestServer> {
  const server = await startTestServer(dirs, options);
  servers.push(server);
  return server;
}

/** Runs busy on an app's replicas now. */
const busy = (server: TestServer, app: string) => server.running.registry.get(app)?.runtime.stats.busy;

interface ApiRun {
  status: string;
  functionName: string;
  statusCode: number | null;
  method: string;
}

/** The app's newest run, once it has `status` (or as it is after 10 s). */
async function newestRun(server: TestServer, app: string, status: string): Promise<ApiRun | undefined> {
  const read = async () =>
    ((await (await fetch(`${server.url}/v2/projects/p-test/apps/p-test-${app}/runs`)).json()) as { items: ApiRun[] }).items[0];
  return until(read, (run) => run?.status === status, 10_000);
}

describe('a custom runtime', () => {
  it('forwards any method, path, query, headers and body to the replica, and records each as a run', async () => {
    const server = await serve([pythonApp('web')]);
    const seen: Array<Record<string, unknown>> = [];
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = method === 'GET' ? undefined : `body of ${method}`;
      const res = await fetch(`${server.url}/v4/p-test/web/echo/deep/path?x=1&y=two`, {
        method,
        body,
        headers: { 'x-custom': 'kept', 'content-type': 'text/plain' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-echo')).toBe('yes');
      const echoed = (await res.json()) as Record<string, unknown>;
      expect(echoed).toMatchObject({ method, path: '/echo/deep/path', query: { x: '1', y: 'two' }, body: body ?? '' });
      expect(echoed.headers).toMatchObject({ 'x-custom': 'kept', 'x-forwarded-proto': 'http' });
      seen.push({ id: res.headers.get('x-request-id'), method });
    }
    // A one-segment path is forwarded too, not taken for a function.
    const single = await fetch(`${server.url}/v4/p-test/web/echo`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(await single.json()).toMatchObject({ method: 'POST', path: '/echo', body: '{"a":1}' });

    const { item } = (await (await fetch(`${server.url}/v2/projects/p-test/apps/p-test-web/runs/${seen[2].id}`)).json()) as {
      item: unknown;
    };
    expect(item).toMatchObject({ functionName: '/echo/deep/path', method: 'PUT', status: 'success', statusCode: 200 });
  });

  it('forwards paths the function routes would take (chat/completions) and counts runs by method in /metrics', async () => {
    const server = await serve([pythonApp('compat')]);
    const chat = await server.post('/v4/p-test/compat/echo/chat/completions', { messages: [] });
    expect(await chat.json()).toMatchObject({ path: '/echo/chat/completions', method: 'POST' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/runs_total\{app="compat",function="POST",status="success"\} 1/);
  });

  it('cancels the forwarded request when its caller leaves, and records the run as cancelled', async () => {
    const server = await serve([pythonApp('leaver')]);
    const caller = new AbortController();
    const call = fetch(`${server.url}/v4/p-test/leaver/sleep?s=3`, { signal: caller.signal }).catch(() => undefined);
    await until(
      () => busy(server, 'leaver'),
      (n) => n === 1,
    );
    caller.abort();
    await call;
    expect(await newestRun(server, 'leaver', 'cancelled')).toMatchObject({ functionName: '/sleep', status: 'cancelled' });
    expect(busy(server, 'leaver')).toBe(0);
  });

  it('passes the replica’s own status codes and bodies through, as a run that succeeded', async () => {
    const server = await serve([pythonApp('statuses')]);
    const res = await fetch(`${server.url}/v4/p-test/statuses/status/418`);
    expect(res.status).toBe(418);
    expect(await res.json()).toEqual({ status: 418 });
    const missing = await fetch(`${server.url}/v4/p-test/statuses/nowhere`, { method: 'DELETE' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ detail: 'no route /nowhere' });
  });

  it('streams a large request body to the replica without buffering it or applying the body limit', async () => {
    const server = await serve([pythonApp('upload')], { bodyLimit: 1024 * 1024 });
    const data = randomBytes(24 * 1024 * 1024);
    const chunks = Array.from({ length: 24 }, (_, i) => data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const res = await request(`${server.url}/v4/p-test/upload/upload`, { method: 'POST', body: Readable.from(chunks) });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
  });

  it('passes server-sent events through as the replica writes them', async () => {
    const server = await serve([pythonApp('events')]);
    const res = await fetch(`${server.url}/v4/p-test/events/stream?n=5&interval=0.2`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const arrivals: Array<{ at: number; text: string }> = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push({ at: Date.now(), text: decoder.decode(value) });
    }
    const text = arrivals.map((a) => a.text).join('');
    expect(text.match(/^id: \d+$/gm)).toEqual(['id: 0', 'id: 1', 'id: 2', 'id: 3', 'id: 4']);
    expect(text).toContain('event: done\ndata: {}\n\n');
    // The first event reached the caller while the replica was still writing the rest (~0.8 s more).
    expect(arrivals.at(-1)?.at ?? 0).toBeGreaterThan(arrivals[0].at + 500);
  });

  it('ends a forwarded answer whose client reads none of it for --stream-stall-ms, and cancels its run', async () => {
    const server = await serve([pythonApp('unread')], { streamStallMs: 500 });
    const { hostname, port } = new URL(server.url);
    // About 64 MB of events, asked for on a socket that never reads.
    const socket = connect({ host: hostname, port: Number(port) });
    socket.pause();
    socket.write('GET /v4/p-test/unread/stream?n=1000&interval=0&pad=65536 HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.on('error', () => undefined);
    expect(await newestRun(server, 'unread', 'cancelled')).toMatchObject({ functionName: '/stream', status: 'cancelled' });
    // Its slot on the replica is free again (the paused client itself never reads to its end).
    expect(busy(server, 'unread')).toBe(0);
    socket.destroy();
  });

  it('waits for the readycheck before sending traffic: that wait is the cold start', async () => {
    const server = await serve([pythonApp('slow-start', { env: 'READY_AFTER_S=1.2\n' })]);
    const began = Date.now();
    const res = await fetch(`${server.url}/v4/p-test/slow-start/echo`);
    expect(res.status).toBe(200);
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_100);
    const { item } = (await (
      await fetch(`${server.url}/v2/projects/p-test/apps/p-test-slow-start/runs/${res.headers.get('x-request-id')}`)
    ).json()) as {
      item: { queueTimeMs: number };
    };
    expect(item.queueTimeMs).toBeGreaterThanOrEqual(1_100);
  });

  it('gives each replica a port of its own, replacing the configured port in the entrypoint', async () => {
    const server = await serve([pythonApp('two-replicas', { scaling: 'min_replicas = 2\nmax_replicas = 2\nreplica_concurrency = 1' })]);
    // Two calls at once, one slot per replica: one call on each.
    const answers = await Promise.all(
      [1, 2].map(async () => (await (await fetch(`${server.url}/v4/p-test/two-replicas/sleep?s=0.3`)).json()) as { port: number }),
    );
    const ports = new Set(answers.map((a) => a.port));
    expect(ports.size).toBe(2);
    for (const port of ports) expect(port).not.toBe(8192);
  });

  it('runs a server that ignores PORT on its configured port, as one replica, with a warning', async () => {
    const port = await freePort();
    // The port is inside an argument, not one: nothing replaces it, and the server never reads PORT.
    const run = `import runpy, sys; sys.argv = ['server.py', '${port}']; runpy.run_path('server.py', run_name='__main__')`;
    const runtime = `entrypoint = ["${PYTHON}", "-c", "${run}"]\nport = ${port}\nreadycheck_endpoint = "/ready"`;
    const server = await serve([pythonApp('fixed-port', { runtime })]);
    const echoed = (await (await fetch(`${server.url}/v4/p-test/fixed-port/echo`)).json()) as { port: number };
    expect(echoed.port).toBe(port);
    expect(server.logs().some((l) => String(l.msg).includes(`listens on its configured port ${port}, not on PORT`))).toBe(true);
  });

  it('replaces a replica whose healthcheck keeps failing', async () => {
    const runtime = `entrypoint = ["${PYTHON}", "server.py", "8192"]\nport = 8192\nreadycheck_endpoint = "/ready"\nhealthcheck_endpoint = "/status/500"`;
    const server = await serve([pythonApp('sick', { runtime, scaling: 'min_replicas = 1\nmax_replicas = 1' })], {
      healthcheckIntervalMs: 100,
    });
    const pidOf = async () => ((await (await fetch(`${server.url}/v4/p-test/sick/echo`)).json()) as { pid: number }).pid;
    const first = await pidOf();
    expect(await until(pidOf, (pid) => pid !== first, 10_000)).not.toBe(first);
    expect(server.logs().some((l) => String(l.msg).includes('its healthcheck /status/500 failed 3 times in a row'))).toBe(true);
  });

  it('answers 504 past response_grace_period and stops forwarding that request', async () => {
    const server = await serve([pythonApp('slow', { scaling: 'min_replicas = 0\nmax_replicas = 1\nresponse_grace_period = 1' })]);
    const res = await fetch(`${server.url}/v4/p-test/slow/sleep?s=5`);
    expect(res.status).toBe(504);
    const body = (await res.json()) as { run_id: string; error: { code: string } };
    expect(body.error.code).toBe('response_grace_period_exceeded');
    expect(body.run_id).toBe(res.headers.get('x-request-id'));
  });

  it('answers 429 when its replicas are busy and its queue is full', async () => {
    const server = await serve([pythonApp('busy', { scaling: 'min_replicas = 1\nmax_replicas = 1\nreplica_concurrency = 1' })], {
      maxQueue: 0,
    });
    const holding = fetch(`${server.url}/v4/p-test/busy/sleep?s=1`);
    await until(
      () => busy(server, 'busy'),
      (n) => n === 1,
    );
    const refused = await fetch(`${server.url}/v4/p-test/busy/echo`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect((await holding).status).toBe(200);
  });

  it('fails the request a dying replica held with 500 replica_crashed, and starts a new replica for the next', async () => {
    const server = await serve([pythonApp('dies')]);
    const first = (await (await fetch(`${server.url}/v4/p-test/dies/echo`)).json()) as { pid: number };
    const res = await fetch(`${server.url}/v4/p-test/dies/exit`, { method: 'POST' });
    expect([500, 502]).toContain(res.status);
    const { error } = (await res.json()) as { error: { code: string } };
    expect(['replica_crashed', 'upstream_unreachable']).toContain(error.code);
    const next = (await (await fetch(`${server.url}/v4/p-test/dies/echo`)).json()) as { pid: number };
    expect(next.pid).not.toBe(first.pid);
  });

  it('checks tokens before forwarding, for HTTP and WebSocket upgrades alike', async () => {
    const server = await serve([pythonApp('private', { deployment: 'disable_auth = false' })], {
      auth: { jwtSecret: 'test-secret-test-secret-test-secret!' },
    });
    const denied = await fetch(`${server.url}/v4/p-test/private/echo/x`);
    expect(denied.status).toBe(401);
    const token = await signToken(secretSigningKey('test-secret-test-secret-test-secret!'), 'p-test', 60);
    const allowed = await fetch(`${server.url}/v4/p-test/private/echo/x`, { headers: { authorization: `Bearer ${token}` } });
    expect(allowed.status).toBe(200);
    const upgrade = new WebSocket(`${server.url.replace('http', 'ws')}/v4/p-test/private/socket`);
    upgrade.on('error', () => undefined);
    const status = await new Promise<number>((resolve) => {
      upgrade.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      upgrade.once('open', () => resolve(101));
    });
    expect(status).toBe(401);
  });

  it('proxies WebSocket upgrades: text, binary, subprotocol and close code', async () => {
    const server = await serve([join(EXAMPLE, 'websocket')]);
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v4/p-test/websocket-echo/room/1?x=1`, ['echo.v1']);
    const received: Array<{ data: string; binary: boolean }> = [];
    socket.on('message', (data, binary) => received.push({ data: (data as Buffer).toString('hex'), binary }));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    expect(socket.protocol).toBe('echo.v1');
    socket.send('hello');
    socket.send(Buffer.from([0, 1, 2, 255]));
    await until(
      () => received.length,
      (n) => n === 3,
      10_000,
    );
    socket.send('close');
    const [code, reason] = await new Promise<[number, string]>((resolve) => socket.once('close', (c, r) => resolve([c, r.toString()])));
    expect(received[0]).toEqual({ data: Buffer.from(JSON.stringify({ hello: '/room/1?x=1' })).toString('hex'), binary: false });
    expect(received[1]).toEqual({ data: Buffer.from('hello').toString('hex'), binary: false });
    expect(received[2]).toEqual({ data: '000102ff', binary: true });
    expect([code, reason]).toEqual([4000, 'asked to close']);
    expect(await newestRun(server, 'websocket-echo', 'success')).toMatchObject({ functionName: '/room/1', statusCode: 101, method: 'GET' });
  });

  it('keeps answering 404 and 405 under a function app, in the envelope', async () => {
    const server = await serve([pythonApp('web-404')]);
    const functionApp = fileURLToPath(new URL('./fixtures/basic-app', import.meta.url));
    const both = await serve([functionApp]);
    const deep = await fetch(`${both.url}/v4/p-test/basic/a/b`);
    expect(deep.status).toBe(404);
    expect(((await deep.json()) as { error: { code: string } }).error.code).toBe('route_not_found');
    const get = await fetch(`${both.url}/v4/p-test/basic/plain`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${server.url}/v4/p-test/web-404/anything`)).status).toBe(404);
  });
});

describe("a custom runtime's replicas", () => {
  it('are killed when the server process exits without closing', async () => {
    const dir = pythonApp('orphans', { scaling: 'min_replicas = 1\nmax_replicas = 1' });
    const serve = fileURLToPath(new URL('../src/serve.ts', import.meta.url));
    const script = join(scratch, 'exit-without-close.mts');
    writeFileSync(
      script,
      `import { startServer } from ${JSON.stringify(serve)};
const running = await startServer({ appDirs: [${JSON.stringify(dir)}], host: '127.0.0.1', port: 0, projectId: 'p', logLevel: 'silent', logDestination: { write: () => undefined } });
await running.loaded;
const echoed = await (await fetch(running.url + '/v4/p/orphans/echo')).json();
console.log(echoed.pid);
process.exit(0);
`,
    );
    const child = spawnSync(process.execPath, [fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url)), script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    const pid = Number(child.stdout.trim());
    expect(pid, child.stderr).toBeGreaterThan(0);
    expect(
      await until(
        () => alive(pid),
        (running) => !running,
        10_000,
      ),
    ).toBe(false);
  });
});

describe('custom runtimes that cannot run here', () => {
  async function loadError(dir: string): Promise<string> {
    const running = await startServer({
      appDirs: [dir],
      host: '127.0.0.1',
      port: 0,
      projectId: 'p-test',
      logLevel: 'silent',
      logDestination: { write: () => undefined },
    });
    try {
      await running.loaded;
      return 'loaded';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await running.close();
    }
  }

  it('with only a dockerfile_path, say that Docker builds are not run and how to run the image', async () => {
    const message = await loadError(pythonApp('docker', { runtime: 'dockerfile_path = "./Dockerfile"\nport = 8192' }));
    expect(message).toContain('does not run Docker builds');
    expect(message).toContain('docker build -f ./Dockerfile -t docker');
    expect(message).toContain('docker run -p 8192:8192 docker');
  });

  it('an entrypoint that exits at once stops the app from loading, with its output', async () => {
    const runtime = `entrypoint = ["${PYTHON}", "-c", "import sys; print('no model here'); sys.exit(3)"]\nport = 8192`;
    const message = await loadError(pythonApp('broken', { runtime, scaling: 'min_replicas = 1' }));
    expect(message).toContain('exited with code 3');
    expect(message).toContain('no model here');
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
