// Warm-up: an app with min_replicas > 0 that exports `models` gets them loaded and run once in each
// replica before the replica takes its first call (test/fixtures/warm-up-app, one replica).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStandIn } from '../src/models/stand-ins/ensure.ts';
import { buildSentenceEmbedder } from '../src/models/stand-ins/sentence-embedder.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const APP = fixture('warm-up-app');
const MODEL = join(APP, 'models', 'tiny.onnx');

interface Stats {
  sessionsCreated: number;
  runs: Record<string, number>;
}

describe('warm-up of declared models', () => {
  let server: TestServer;
  beforeAll(async () => {
    await rm(MODEL, { force: true });
    await ensureStandIn(MODEL, () => buildSentenceEmbedder({ vocabSize: 30522, hidden: 8, layers: 1, maxPositions: 64, seed: 3 }));
    server = await startTestServer([APP]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('counts the app as started, and /ready as ready, only once its replica has warmed up', async () => {
    // startTestServer waited for `loaded`: by then the replica has loaded and run its model.
    const res = await fetch(`${server.url}/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { apps: Record<string, { models?: unknown[] }> };
    expect(body.apps['warm-up'].models).toHaveLength(1);
  });

  it('creates the session and runs it once before the first call, so that call creates none', async () => {
    const res = await server.post('/v4/p-test/warm-up/first', {});
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as { result: { before: Stats; after: Stats; provider: string } };
    // The first call found the session made and the dummy inference done…
    expect(result.before.sessionsCreated).toBe(1);
    expect(result.before.runs[MODEL]).toBe(1);
    // …and asking for the model made no second one.
    expect(result.after.sessionsCreated).toBe(1);
    expect(result.provider).toBe('cpu');
  });

  it('lists the warmed model and its provider under the app in /ready', async () => {
    const res = await fetch(`${server.url}/ready`);
    const body = (await res.json()) as { apps: Record<string, { models?: Array<{ model: string; provider: string }> }> };
    expect(body.apps['warm-up'].models).toEqual([{ app: 'warm-up', model: MODEL, provider: 'cpu' }]);
  });
});
