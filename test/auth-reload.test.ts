// `serve --watch` and auth: the decision follows the app folder's current cerebrium.toml. A renamed
// locked app stays locked, flipping disable_auth takes effect with a log line, and an app that turns
// locked on a server with no key gets the dev secret (and a printed dev token) before it is swapped in.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectRefused, SECRET } from './auth-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const scratch: string[] = [];
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const toml = (name: string, disableAuth: boolean) => `[cerebrium.deployment]\nname = "${name}"\ndisable_auth = ${disableAuth}\n`;

/** A copy of the auth fixture's code under the given name and setting. */
async function appFolder(name: string, disableAuth: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cl-auth-reload-'));
  scratch.push(dir);
  await writeFile(join(dir, 'package.json'), '{"type": "module"}\n');
  await copyFile(join(fixture('auth-app'), 'main.ts'), join(dir, 'main.ts'));
  await writeFile(join(dir, 'cerebrium.toml'), toml(name, disableAuth));
  return dir;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cl-auth-reload-data-'));
  scratch.push(dir);
  return dir;
}

/** The Authorization header of the dev token the server printed. */
function devToken(printed: string[]): Record<string, string> {
  const line = printed.find((l) => l.trim().startsWith('Authorization: Bearer '));
  if (!line) throw new Error(`no dev token printed in:\n${printed.join('\n')}`);
  return { authorization: line.trim().slice('Authorization: '.length) };
}

const loaded = (name: string) => () => server?.running.registry.get(name) !== undefined;
const logged = (text: string) => () => server?.logs().some((line) => String(line.msg).includes(text)) ?? false;

describe('auth across --watch reloads', () => {
  it('a locked app renamed on disk stays locked under its new name, and its old runs stay behind a token', async () => {
    // No key: the dev secret, so the runs API guards only locked apps, and the old name must stay one.
    const dir = await appFolder('locked-before', false);
    const printed: string[] = [];
    server = await startTestServer([dir], { watch: true, logLevel: 'info', dataDir: await dataDir(), print: (l) => printed.push(l) });
    const token = devToken(printed);
    expect((await server.post('/v4/p-test/locked-before/whoami', {}, token)).status).toBe(200);

    await writeFile(join(dir, 'cerebrium.toml'), toml('locked-after', false));
    await until(loaded('locked-after'));
    await expectRefused(await server.post('/v4/p-test/locked-after/whoami', {}), 401, 'missing_token');
    expect((await server.post('/v4/p-test/locked-after/whoami', {}, token)).status).toBe(200);
    const oldRuns = `${server.url}/v2/projects/p-test/apps/p-test-locked-before/runs`;
    await expectRefused(await fetch(oldRuns), 401, 'missing_token');
    expect((await fetch(oldRuns, { headers: token })).status).toBe(200);
  });

  it('flipping disable_auth takes effect on reload, with a log line each way', async () => {
    const dir = await appFolder('flipping', false);
    server = await startTestServer([dir], { watch: true, logLevel: 'info', auth: { jwtSecret: SECRET } });
    await expectRefused(await server.post('/v4/p-test/flipping/whoami', {}), 401, 'missing_token');

    await writeFile(join(dir, 'cerebrium.toml'), toml('flipping', true));
    await until(logged('no longer needs a token'));
    expect((await server.post('/v4/p-test/flipping/whoami', {})).status).toBe(200);
    expect(server.logs().find((line) => String(line.msg).includes('no longer needs a token'))).toMatchObject({
      level: 40,
      app: 'flipping',
    });

    await writeFile(join(dir, 'cerebrium.toml'), toml('flipping', false));
    await until(logged('now needs Authorization'));
    await expectRefused(await server.post('/v4/p-test/flipping/whoami', {}), 401, 'missing_token');
  });

  it('an app that turns locked on a server with no key gets the dev secret, and the printed dev token works', async () => {
    const dir = await appFolder('opening', true);
    const printed: string[] = [];
    server = await startTestServer([dir], { watch: true, logLevel: 'info', dataDir: await dataDir(), print: (l) => printed.push(l) });
    expect((await server.post('/v4/p-test/opening/whoami', {})).status).toBe(200);
    expect(printed.some((l) => l.includes('Dev token'))).toBe(false);

    await writeFile(join(dir, 'cerebrium.toml'), toml('opening', false));
    await until(logged('now needs Authorization'));
    await expectRefused(await server.post('/v4/p-test/opening/whoami', {}), 401, 'missing_token');
    expect((await server.post('/v4/p-test/opening/whoami', {}, devToken(printed))).status).toBe(200);
  });
});
