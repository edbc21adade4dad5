// Fault injection on a custom runtime ([cerebrium.runtime.custom]): the repository's example web
// server (examples/custom-runtime, Python standard library only) behind a real server with
// --allow-faults, each directive seen from a real client over a real socket. The replica starts
// counted per app (/metrics, /_local/apps) are checked here too: a custom runtime's replicas are
// processes, so each start is visible as a new pid.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollRun } from './async-support.ts';
import { readToEnd } from './helpers/read-to-end.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/custom-runtime/', import.meta.url));
// The interpreter itself rather than a shim on PATH (pyenv's costs ~100 ms a start).
const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const FAULT = 'x-cerebrium-local-fault';
const APP = 'web';
const at = (path: string) => `/v4/p-test/${APP}${path}`;

const scratch = mkdtempSync(join(tmpdir(), 'cl-custom-faults-'));
let server: TestServer;

beforeAll(async () => {
  const dir = join(scratch, APP);
  mkdirSync(dir);
  copyFileSync(join(EXAMPLE, 'server.py'), join(dir, 'server.py'));
  writeFileSync(
    join(dir, 'cerebrium.toml'),
    `[cerebrium.deployment]\nname = "${APP}"\ndisable_auth = true\n\n` +
      `[cerebrium.runtime.custom]\nentrypoint = ["${PYTHON}", "server.py", "8192"]\nport = 8192\nreadycheck_endpoint = "/ready"\n\n` +
      '[cerebrium.scaling]\nmin_replicas = 0\nmax_replicas = 2\nreplica_concurrency = 4\n',
  );
  server = await startTestServer([dir], { allowFaults: true });
});

afterAll(async () => {
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const get = (path: string, fault?: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${at(path)}`, { headers: fault === undefined ? headers : { [FAULT]: fault, ...headers } });

/** The app's replica starts as cerebrium_local_replica_starts_total shows them. */
async function replicaStarts(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`cerebrium_local_replica_starts_total\\{app="${APP}"\\} (\\d+)`).exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** The app's numbers as the dashboard reads them. */
async function appStats(): Promise<{ replicas: number; replicaStarts: number }> {
  const { items } = (await (await fetch(`${server.url}/_local/apps`)).json()) as {
    items: Array<{ name: string; stats: { replicas: number; replicaStarts: number } }>;
  };
  return items.find((app) => app.name === APP)?.stats ?? { replicas: Number.NaN, replicaStarts: Number.NaN };
}

const pidOf = async (res: Response) => ((await res.json()) as { pid: number }).pid;

/** A GET over a raw socket: how it ended (an answer, or a reset before any byte). */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${server.url}${path}`, { headers });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

// In order: the first test relies on no replica having started yet.
describe('faults on a custom runtime', () => {
  it('answers status=CODE itself, so the replica never sees the request and none is started', async () => {
    const res = await get('/echo', 'status=503');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { run_id: string; error: { code: string; message: string } };
    expect(body.error.code).toBe('service_unavailable');
    expect(body.error.message).toContain('Injected fault (status=503)');
    expect(res.headers.get('x-request-id')).toBe(body.run_id);
    expect(await pollRun(server.url, APP, body.run_id)).toMatchObject({ status: 'failure', statusCode: 503, fault: 'status=503' });
    expect(await appStats()).toEqual(expect.objectContaining({ replicas: 0, replicaStarts: 0 }));
  });

  it('counts the replica the first call starts in /metrics and /_local/apps', async () => {
    expect(await replicaStarts()).toBe(0);
    expect((await get('/echo')).status).toBe(200);
    expect(await replicaStarts()).toBe(1);
    expect(await appStats()).toMatchObject({ replicas: 1, replicaStarts: 1 });
  });

  it('waits latency=DURATION before forwarding, and records the fault', async () => {
    const started = Date.now();
    const res = await get('/echo/slow', 'latency=300ms');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const run = await pollRun(server.url, APP, res.headers.get('x-request-id') as string);
    expect(run).toMatchObject({ status: 'success', fault: 'latency=300ms' });
    expect(run.queueTimeMs).toBeGreaterThanOrEqual(290);
  });

  it('runs a cold call on a replica started for it alone, counted as a start, and leaves the warm one in place', async () => {
    const warm = await pidOf(await get('/echo'));
    const startsBefore = await replicaStarts();
    const res = await get('/echo', 'cold');
    const cold = await pidOf(res);
    expect(cold).not.toBe(warm);
    expect(await replicaStarts()).toBe(startsBefore + 1);
    expect((await pollRun(server.url, APP, res.headers.get('x-request-id') as string)).fault).toBe('cold');
    expect(await pidOf(await get('/echo'))).toBe(warm);
    // The one-off replica stops once its run is done.
    await until(appStats, (stats) => stats.replicas === 1);
  });

  it('resets the connection without an answer once the replica has answered', async () => {
    const outcome = await rawGet(at('/echo/reset'), { [FAULT]: 'reset' });
    expect(outcome).toEqual({ error: 'ECONNRESET' });
    const runs = (await (await fetch(`${server.url}/v2/projects/p-test/apps/p-test-${APP}/runs`)).json()) as {
      items: Array<{ functionName: string; status: string; fault: string | null }>;
    };
    expect(runs.items.find((run) => run.functionName === '/echo/reset')).toMatchObject({ status: 'success', fault: 'reset' });
  });

  it('cuts an event stream after drop-after=N events, with no later event, and records the run as cancelled', async () => {
    const res = await get('/stream?n=6&interval=0.02', 'drop-after=2');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const { text, cut } = await readToEnd(res);
    expect(cut).toBe(true);
    const events = text.split('\n\n').filter((frame) => frame !== '');
    expect(events.map((event) => event.split('\n')[0])).toEqual(['id: 0', 'id: 1']);
    const run = await pollRun(server.url, APP, res.headers.get('x-request-id') as string);
    expect(run).toMatchObject({ status: 'cancelled', fault: 'drop-after=2' });
  });

  it('leaves an answer that is not an event stream whole under drop-after', async () => {
    const res = await get('/echo/whole', 'drop-after=0');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: '/echo/whole' });
  });

  it('refuses webhook= in the header with 400 invalid_fault, before any run', async () => {
    const res = await get('/echo', 'webhook=drop');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_fault');
    expect(body.error.message).toContain('does not apply to a custom runtime');
  });

  it('applies a rule matched by path, leaving out its webhook= part', async () => {
    const rules = { rules: [{ app: APP, function: '/status/*', fault: 'status=502;webhook=drop' }] };
    const put = await fetch(`${server.url}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify(rules),
      headers: { 'content-type': 'application/json' },
    });
    expect(put.status).toBe(200);
    try {
      const res = await get('/status/200');
      expect(res.status).toBe(502);
      const { run_id } = (await res.json()) as { run_id: string };
      expect((await pollRun(server.url, APP, run_id)).fault).toBe('status=502');
      expect((await get('/echo')).status).toBe(200);
    } finally {
      await fetch(`${server.url}/_local/faults`, { method: 'DELETE' });
    }
  });

  it("samples the real replica starts for the dashboard's chart: its cold starts add up to the starts counted", async () => {
    const { replicaStarts: counted } = await appStats();
    // Two starts at least by now: the first call's replica and the cold call's.
    expect(counted).toBeGreaterThanOrEqual(2);
    const read = async () => {
      const { items } = (await (await fetch(`${server.url}/_local/replicas`)).json()) as {
        items: Record<string, Array<{ coldStarts: number; replicaStarts: number }>>;
      };
      return items[APP] ?? [];
    };
    // Samples are taken every 2 s: wait for one taken after the last start.
    const samples = await until(read, (ring) => ring.at(-1)?.replicaStarts === counted);
    expect(samples.reduce((sum, sample) => sum + sample.coldStarts, 0)).toBe(counted);
  });
});
