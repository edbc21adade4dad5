// The run store across process deaths: the CLI runs as a child process on a temp data dir, is
// killed (SIGKILL) or stopped (SIGTERM), and started again on the same data dir.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ASYNC_APP,
  type ChildServer,
  getRun,
  NARROW_APP,
  PROJECT,
  pollRun,
  spawnServer,
  type TempDir,
  tempDataDir,
} from './async-support.ts';

const dirs: TempDir[] = [];
const children: ChildServer[] = [];

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  for (const d of dirs) d.remove();
});

const start = async (dataDir: string) => {
  const server = await spawnServer([ASYNC_APP, NARROW_APP], dataDir);
  children.push(server);
  return server;
};

const callAsync = async (server: ChildServer, app: string, fn: string, body: unknown) => {
  const res = await fetch(`${server.url}/v4/${PROJECT}/${app}/${fn}?async=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
};

// Each test starts two server processes, which a busy machine can take several seconds each to bring up.
describe('restarts', { timeout: 60_000 }, () => {
  it('after kill -9, runs that were running or waiting show as failed, and finished runs are kept', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await start(dir.path);
    const finished = await callAsync(first, 'async', 'echo', { keep: 'me' });
    await pollRun(first.url, 'async', finished);
    const running = await callAsync(first, 'narrow', 'hold', { ms: 60_000 });
    const waiting = await callAsync(first, 'narrow', 'hold', { ms: 1 });
    await pollRun(first.url, 'narrow', running, (run) => run.status === 'running');
    expect((await getRun(first.url, 'narrow', waiting)).status).toBe('pending');

    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await start(dir.path);
    for (const id of [running, waiting]) {
      const run = await getRun(second.url, 'narrow', id);
      expect(run.status).toBe('failure');
      expect(run.statusCode).toBe(500);
      expect(run.completedAt).not.toBeNull();
      expect(run.error).toMatchObject({ type: 'server_error', code: 'server_stopped' });
      expect(run.error?.message).toMatch(/server stopped during this run/);
    }
    expect(await getRun(second.url, 'async', finished)).toMatchObject({ status: 'success', result: { echo: { keep: 'me' } } });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('SIGTERM lets accepted async runs finish, queued ones included, before the process exits', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await start(dir.path);
    const runningId = await callAsync(first, 'narrow', 'hold', { ms: 300 });
    const queuedId = await callAsync(first, 'narrow', 'hold', { ms: 50 });
    await pollRun(first.url, 'narrow', runningId, (run) => run.status === 'running');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start(dir.path);
    for (const id of [runningId, queuedId]) {
      expect(await getRun(second.url, 'narrow', id)).toMatchObject({ status: 'success', result: 'held' });
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it("a second server on the same data dir is refused, not allowed to fail the first one's runs", async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await start(dir.path);
    const runId = await callAsync(first, 'async', 'sleepy', { ms: 3_000 });
    await expect(start(dir.path)).rejects.toThrow(/in use by another cerebrium-local server/);
    expect((await getRun(first.url, 'async', runId)).status).not.toBe('failure');
    first.child.kill('SIGKILL');
    await first.exited;
  });
});
