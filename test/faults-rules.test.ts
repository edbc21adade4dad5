// Server-wide fault rules: a --faults TOML file (with probabilities under --faults-seed, and
// reloaded with --watch), and the same rules at run time through PUT/GET/DELETE /_local/faults.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { SECRET, tempDir } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

const FAULTY = fixture('faults-app');
const PROJECT = 'p-test';
const call = (fn: string) => `/v4/${PROJECT}/faulty/${fn}`;

let dir: ReturnType<typeof tempDir>;
const servers: TestServer[] = [];

beforeAll(() => {
  dir = tempDir('cl-faults-');
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(() => dir?.remove());

function rulesFile(name: string, toml: string): string {
  const file = join(dir.dir, name);
  writeFileSync(file, toml);
  return file;
}

async function serve(options: Parameters<typeof startTestServer>[1]): Promise<TestServer> {
  const server = await startTestServer([FAULTY], options);
  servers.push(server);
  return server;
}

/** The statuses of `n` calls of `fn`, one after another. */
async function statuses(server: TestServer, fn: string, n: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const res = await server.post(call(fn), {});
    await res.arrayBuffer();
    seen.push(res.status);
  }
  return seen;
}

const HALF_THE_ECHOES = `
[[rules]]
app = "faul*"
function = "ec?o"
probability = 0.5
fault = "status=503"
`;

describe('a --faults file', () => {
  it('fails about the given share of matching calls, the same ones on every run under one --faults-seed', async () => {
    const file = rulesFile('half.toml', HALF_THE_ECHOES);
    const first = await serve({ faultsFile: file, faultsSeed: 42 });
    const seen = await statuses(first, 'echo', 10);
    expect(new Set(seen)).toEqual(new Set([200, 503]));
    // Functions the patterns do not match are left alone.
    expect(await statuses(first, 'whoami', 4)).toEqual([200, 200, 200, 200]);
    await first.close();
    servers.splice(0);

    const again = await serve({ faultsFile: file, faultsSeed: 42 });
    expect(await statuses(again, 'echo', 10)).toEqual(seen);
  });

  it('applies without --allow-faults, while the header stays ignored', async () => {
    const file = rulesFile('always.toml', '[[rules]]\nfunction = "whoami"\nfault = "status=429"\n');
    const server = await serve({ faultsFile: file });
    expect(await statuses(server, 'whoami', 2)).toEqual([429, 429]);
    const res = await server.post(call('echo'), {}, { 'x-cerebrium-local-fault': 'status=500' });
    expect(res.status).toBe(200);
    expect((await fetch(`${server.url}/_local/faults`)).status).toBe(404);
  });

  it('stops start-up when the file is not valid', async () => {
    const bad = rulesFile('bad.toml', '[[rules]]\nprobability = 2\nfault = "status=503"\n');
    await expect(startTestServer([FAULTY], { faultsFile: bad })).rejects.toThrow(/bad\.toml.*probability/s);
    const unreadable = rulesFile('bad-fault.toml', '[[rules]]\nfault = "status=418"\n');
    await expect(startTestServer([FAULTY], { faultsFile: unreadable })).rejects.toThrow(/rule 1: status must be one of/);
  });

  it('is reloaded with --watch, and a broken change keeps the rules in force', async () => {
    const file = rulesFile('watched.toml', '[[rules]]\nfunction = "echo"\nfault = "status=502"\n');
    const server = await serve({ faultsFile: file, watch: true });
    expect(await statuses(server, 'echo', 1)).toEqual([502]);

    writeFileSync(file, '[[rules]]\nfunction = "echo"\nfault = "status=504"\n');
    expect(
      await until(
        () => statuses(server, 'echo', 1),
        (s) => s[0] === 504,
      ),
    ).toEqual([504]);

    writeFileSync(file, 'this is not toml [');
    await until(
      () => server.logs(),
      (logs) => logs.some((l) => l.msg === 'fault rules file not reloaded; the rules in force stay'),
    );
    expect(await statuses(server, 'echo', 1)).toEqual([504]);
  });
});

describe('/_local/faults', () => {
  // One server for the tests without auth; each ends with the rules cleared.
  let shared: TestServer;
  beforeAll(async () => {
    shared = await startTestServer([FAULTY], { allowFaults: true });
  });
  afterEach(async () => {
    await fetch(`${shared.url}/_local/faults`, { method: 'DELETE' });
  });
  afterAll(async () => {
    await shared?.close();
  });

  const put = (server: TestServer, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/_local/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('switches rules on with PUT, shows them with GET and off again with DELETE', async () => {
    const server = shared;
    expect(await statuses(server, 'echo', 1)).toEqual([200]);

    const rules = { seed: 7, rules: [{ function: 'echo', fault: 'status=500' }] };
    const res = await put(server, rules);
    expect(res.status).toBe(200);
    const shown = { allowHeader: true, seed: 7, rules: [{ app: '*', function: 'echo', probability: 1, fault: 'status=500' }] };
    expect(await res.json()).toEqual(shown);
    expect(await (await fetch(`${server.url}/_local/faults`)).json()).toEqual(shown);
    expect(await statuses(server, 'echo', 2)).toEqual([500, 500]);

    const cleared = await fetch(`${server.url}/_local/faults`, { method: 'DELETE' });
    expect(((await cleared.json()) as { rules: unknown[] }).rules).toEqual([]);
    expect(await statuses(server, 'echo', 1)).toEqual([200]);
  });

  it('gives the same faults for the same seed each time the rules are put', async () => {
    const server = shared;
    const rules = { seed: 3, rules: [{ function: 'echo', probability: 0.5, fault: 'status=503' }] };
    await put(server, rules);
    const first = await statuses(server, 'echo', 12);
    await put(server, rules);
    expect(await statuses(server, 'echo', 12)).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 503]));
  });

  it('refuses rules it cannot read with 400 invalid_fault and keeps those in force', async () => {
    const server = shared;
    await put(server, { rules: [{ fault: 'status=503' }] });
    for (const bad of [{ rules: [{ fault: 'nope' }] }, { rules: 'all' }, { rules: [], extra: true }]) {
      const res = await put(server, bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_fault');
    }
    expect(await statuses(server, 'echo', 1)).toEqual([503]);
  });

  it('needs a token for the server project when the operator configured a key', async () => {
    const server = await serve({ allowFaults: true, auth: { jwtSecret: SECRET } });
    const body = { rules: [{ fault: 'status=503' }] };
    expect((await put(server, body)).status).toBe(401);
    expect((await fetch(`${server.url}/_local/faults`)).status).toBe(401);
    const token = await signToken(secretSigningKey(SECRET), PROJECT, 600);
    expect((await put(server, body, { authorization: `Bearer ${token}` })).status).toBe(200);
    const other = await signToken(secretSigningKey(SECRET), 'p-other', 600);
    expect((await put(server, body, { authorization: `Bearer ${other}` })).status).toBe(403);
  });
});
