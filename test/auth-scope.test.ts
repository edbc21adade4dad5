// What a token guards beyond a locked app's own calls: the runs API of every app once a key is
// configured (as on Cerebrium), what /openapi.json shows, and the warning for apps served publicly
// beyond this machine. Over real sockets, with an HS256 secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectRefused, hs256, SECRET, tempDir } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

let keyed: TestServer;
let devSecret: TestServer;
let dataDir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dataDir = tempDir();
  [keyed, devSecret] = await Promise.all([
    startTestServer([fixture('auth-app'), fixture('basic-app')], { auth: { jwtSecret: SECRET } }),
    startTestServer([fixture('auth-app'), fixture('basic-app')], { dataDir: dataDir.dir }),
  ]);
});

afterAll(async () => {
  await Promise.all([keyed?.close(), devSecret?.close()]);
  dataDir?.remove();
});

const token = () => hs256({ projectId: 'p-test' });
const get = (server: TestServer, path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { headers });

describe('the runs API with a configured key', () => {
  it("refuses a public app's runs list, run and cancel without a token, and answers them with one", async () => {
    const call = await keyed.post('/v4/p-test/basic/plain', { name: 'x' });
    const { run_id: runId } = (await call.json()) as { run_id: string };
    const base = '/v2/projects/p-test/apps/p-test-basic/runs';

    await expectRefused(await get(keyed, base), 401, 'missing_token');
    await expectRefused(await get(keyed, `${base}/${runId}`), 401, 'missing_token');
    await expectRefused(await fetch(`${keyed.url}${base}/${runId}/cancel`, { method: 'POST' }), 401, 'missing_token');
    await expectRefused(await get(keyed, base, bearer(await hs256({ projectId: 'p-other' }))), 403, 'project_mismatch');

    const list = await get(keyed, base, bearer(await token()));
    expect(list.status).toBe(200);
    expect(((await list.json()) as { items: Array<{ id: string }> }).items.map((r) => r.id)).toContain(runId);
    expect((await get(keyed, `${base}/${runId}`, bearer(await token()))).status).toBe(200);
  });

  it('refuses an app id that names no app too, so nothing is learned without a token', async () => {
    await expectRefused(await get(keyed, '/v2/projects/p-test/apps/not-prefixed/runs'), 401, 'missing_token');
  });

  it('leaves the calls of a public app open', async () => {
    expect((await keyed.post('/v4/p-test/basic/plain', {})).status).toBe(200);
  });
});

describe('the runs API with only the generated dev secret', () => {
  it("keeps a public app's runs open and a locked app's runs behind a token", async () => {
    expect((await get(devSecret, '/v2/projects/p-test/apps/p-test-basic/runs')).status).toBe(200);
    await expectRefused(await get(devSecret, '/v2/projects/p-test/apps/p-test-secured/runs'), 401, 'missing_token');
  });
});

describe('/openapi.json', () => {
  const paths = async (res: Response) => Object.keys(((await res.json()) as { paths: Record<string, unknown> }).paths);

  it('lists a locked app only to a caller with a valid token', async () => {
    const anonymous = await paths(await get(keyed, '/openapi.json'));
    expect(anonymous).toContain('/v4/{projectId}/basic/plain');
    expect(anonymous.some((p) => p.includes('secured'))).toBe(false);

    const forged = await paths(await get(keyed, '/openapi.json', bearer(await hs256({ projectId: 'p-test' }, 'not-the-secret-at-all!!'))));
    expect(forged.some((p) => p.includes('secured'))).toBe(false);

    const withToken = await paths(await get(keyed, '/openapi.json', bearer(await token())));
    expect(withToken).toContain('/v4/{projectId}/secured/whoami');
    expect(withToken).toContain('/v4/{projectId}/basic/plain');
  });
});

describe('serving beyond this machine', () => {
  const exposureWarnings = (server: TestServer) =>
    server.logs().filter((line) => line.level === 40 && String(line.msg).includes('beyond this machine'));

  it('warns at start, naming the apps that need no token', async () => {
    const server = await startTestServer([fixture('auth-app'), fixture('basic-app')], { host: '0.0.0.0', auth: { jwtSecret: SECRET } });
    try {
      const [warning, ...more] = exposureWarnings(server);
      expect(more).toEqual([]);
      expect(String(warning?.msg)).toContain('"basic"');
      expect(String(warning?.msg)).not.toContain('secured');
    } finally {
      await server.close();
    }
  });

  it('says nothing on a loopback host', () => {
    expect(exposureWarnings(keyed)).toEqual([]);
  });
});
