// What a function sees of the server's environment: a clean one (PATH, HOME, LANG, LC_*, TZ, TMPDIR,
// NODE_ENV), the --pass-env names, the app's .env, APP_NAME and PROJECT_ID; never the server's secrets.
// The same for the three kinds of replica: a worker thread, a Python process, a custom runtime's server.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const NAMES = ['CEREBRIUM_JWT_SECRET', 'CL_TEST_NOT_PASSED', 'CL_TEST_PASSED', 'FROM_DOTENV', 'APP_NAME', 'PROJECT_ID'];
const SERVER_ENV = { CEREBRIUM_JWT_SECRET: 'the-servers-own-secret', CL_TEST_NOT_PASSED: 'server only', CL_TEST_PASSED: 'passed on' };
/** Names a replica may hold: the inherited ones, the passed one, the app's own, and what each runtime adds. */
const ALLOWED =
  /^(PATH|HOME|LANG|LC_\w+|TZ|TMPDIR|NODE_ENV|CL_TEST_PASSED|FROM_DOTENV|APP_NAME|PROJECT_ID|PYTHONUNBUFFERED|PYTHONDONTWRITEBYTECODE|PORT)$/;

const TS_MAIN = `
const NAMES = ${JSON.stringify(NAMES)};
export function env() {
  return { ...Object.fromEntries(NAMES.map((n) => [n, process.env[n] ?? null])), keys: Object.keys(process.env).sort() };
}
`;
const PY_MAIN = `
import os
NAMES = ${JSON.stringify(NAMES)}
def env():
    return {**{n: os.environ.get(n) for n in NAMES}, "keys": sorted(os.environ)}
`;
const PY_SERVER = `
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
NAMES = ${JSON.stringify(NAMES)}
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({**{n: os.environ.get(n) for n in NAMES}, "keys": sorted(os.environ)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

let scratch: string;
let server: TestServer;
const saved: Record<string, string | undefined> = {};

function app(name: string, files: Record<string, string>, toml = ''): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cerebrium.toml'), `[cerebrium.deployment]\nname = "${name}"\n${toml}`);
  writeFileSync(join(dir, '.env'), `FROM_DOTENV=dotenv-${name}\n`);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

beforeAll(async () => {
  for (const [name, value] of Object.entries(SERVER_ENV)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  scratch = mkdtempSync(join(tmpdir(), 'cl-env-'));
  const custom = `\n[cerebrium.runtime.custom]\nentrypoint = ["${PYTHON}", "server.py"]\nport = 8192\nreadycheck_endpoint = "/"\n`;
  server = await startTestServer(
    [
      app('env-ts', { 'main.ts': TS_MAIN, 'package.json': '{"type": "module"}\n' }),
      app('env-py', { 'main.py': PY_MAIN }),
      app('env-web', { 'server.py': PY_SERVER }, custom),
    ],
    { python: PYTHON, passEnv: ['CL_TEST_PASSED'] },
  );
});

afterAll(async () => {
  await server?.close();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(scratch, { recursive: true, force: true });
});

type Seen = Record<string, string | null> & { keys: string[] };

function expectClean(seen: Seen, appName: string): void {
  expect(seen).toMatchObject({
    CEREBRIUM_JWT_SECRET: null,
    CL_TEST_NOT_PASSED: null,
    CL_TEST_PASSED: 'passed on',
    FROM_DOTENV: `dotenv-${appName}`,
    APP_NAME: appName,
    PROJECT_ID: 'p-test',
  });
  expect(seen.keys.filter((key) => !ALLOWED.test(key))).toEqual([]);
  expect(seen.keys).toContain('PATH');
}

describe("a replica's environment", () => {
  it('a TypeScript function sees the --pass-env variable and its .env, but not the JWT secret or other server variables', async () => {
    const res = await server.post('/v4/p-test/env-ts/env');
    expect(res.status).toBe(200);
    expectClean(((await res.json()) as { result: Seen }).result, 'env-ts');
  });

  it('a Python function sees the same, and nothing else of the server', async () => {
    const res = await server.post('/v4/p-test/env-py/env');
    expect(res.status).toBe(200);
    expectClean(((await res.json()) as { result: Seen }).result, 'env-py');
  });

  it("a custom runtime's server is started with the same environment", async () => {
    const res = await fetch(`${server.url}/v4/p-test/env-web/`);
    expect(res.status).toBe(200);
    expectClean((await res.json()) as Seen, 'env-web');
  });
});
