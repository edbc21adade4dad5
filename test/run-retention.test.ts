// --retain-runs-days and --retain-runs over a real server and a real runs.sqlite: finished runs
// older than the limit, or beyond an app's newest N, are gone from the runs API after a start;
// newer ones and unfinished ones stay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewRun } from '../src/runs/run-repository.ts';
import { SqliteRunRepository } from '../src/runs/sqlite-run-repository.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const DAY = 24 * 60 * 60 * 1000;
const runsUrl = (server: TestServer, id: string) => `${server.url}/v2/projects/p-test/apps/p-test-basic/runs/${id}`;

function newRun(id: string, createdAt: number): NewRun {
  return {
    id,
    projectId: 'p-test',
    appName: 'basic',
    functionName: 'plain',
    async: true,
    method: 'POST',
    status: 'pending',
    createdAt,
    paramsJson: '{}',
    webhookEndpoint: null,
  };
}

/** Stores finished runs in `dataDir`'s run store, as a server that stopped would have left them. */
async function storeRuns(dataDir: string, finished: Array<[id: string, completedAt: number]>): Promise<void> {
  const repository = SqliteRunRepository.open({ dataDir, log: pino({ level: 'silent' }) });
  for (const [id, completedAt] of finished) {
    repository.insert(newRun(id, completedAt - 1000));
    repository.transition({
      id,
      status: 'success',
      startedAt: completedAt - 900,
      queueTimeMs: 100,
      end: { statusCode: 200, completedAt, runTimeMs: 900, resultJson: '{}', errorJson: null },
    });
  }
  await repository.close();
}

describe('--retain-runs', () => {
  let dataDir: string;
  let server: TestServer;
  const id = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cl-retention-count-'));
    await storeRuns(dataDir, [
      [id(1), Date.now() - 5000],
      [id(3), Date.now() - 3000],
      [id(4), Date.now() - 2000],
      [id(5), Date.now() - 1000],
    ]);
    server = await startTestServer([fixture('basic-app')], { dataDir, retainRuns: 2 });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps each app's newest runs and deletes its older finished ones at start", async () => {
    await expect.poll(async () => (await fetch(runsUrl(server, id(3)))).status).toBe(404);
    expect((await fetch(runsUrl(server, id(1)))).status).toBe(404);
    for (const kept of [id(4), id(5)]) expect((await fetch(runsUrl(server, kept))).status).toBe(200);
  });
});

describe('--retain-runs-days', () => {
  let dataDir: string;
  let server: TestServer;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cl-retention-'));
    await storeRuns(dataDir, [
      ['00000000-0000-4000-8000-000000000010', Date.now() - 10 * DAY],
      ['00000000-0000-4000-8000-000000000002', Date.now() - 2 * DAY],
    ]);
    // No option: the default, 7 days, applies.
    server = await startTestServer([fixture('basic-app')], { dataDir });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('deletes finished runs older than 7 days by default at start and keeps newer ones', async () => {
    // Pruning starts with the server; give its first pass a moment.
    await expect.poll(async () => (await fetch(runsUrl(server, '00000000-0000-4000-8000-000000000010'))).status).toBe(404);
    const kept = await fetch(runsUrl(server, '00000000-0000-4000-8000-000000000002'));
    expect(kept.status).toBe(200);
    expect(((await kept.json()) as { item: { status: string } }).item.status).toBe('success');
  });
});
