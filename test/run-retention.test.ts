// --keep-runs-days over a real server and a real runs.sqlite: finished runs older than the limit
// are gone from the runs API after a start, newer ones and unfinished ones stay.
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

describe('--keep-runs-days', () => {
  let dataDir: string;
  let server: TestServer;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cl-retention-'));
    const repository = SqliteRunRepository.open({ dataDir, log: pino({ level: 'silent' }) });
    const finish = (id: string, completedAt: number) => {
      repository.insert(newRun(id, completedAt - 1000));
      repository.transition({
        id,
        status: 'success',
        startedAt: completedAt - 900,
        queueTimeMs: 100,
        end: { statusCode: 200, completedAt, runTimeMs: 900, resultJson: '{}', errorJson: null },
      });
    };
    finish('00000000-0000-4000-8000-000000000010', Date.now() - 10 * DAY);
    finish('00000000-0000-4000-8000-000000000002', Date.now() - 2 * DAY);
    await repository.close();
    server = await startTestServer([fixture('basic-app')], { dataDir, keepRunsDays: 7 });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('deletes finished runs older than the limit at start and keeps newer ones', async () => {
    // Pruning starts with the server; give its first pass a moment.
    await expect.poll(async () => (await fetch(runsUrl(server, '00000000-0000-4000-8000-000000000010'))).status).toBe(404);
    const kept = await fetch(runsUrl(server, '00000000-0000-4000-8000-000000000002'));
    expect(kept.status).toBe(200);
    expect(((await kept.json()) as { item: { status: string } }).item.status).toBe('success');
  });
});
