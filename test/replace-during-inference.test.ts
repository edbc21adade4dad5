// A function that ignores ctx.signal while onnxruntime calls are in flight: its replica is replaced
// once no native call is running (terminating a thread mid-call would abort the whole process),
// and the server serves on.
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureStandIn } from '../src/models/stand-ins/ensure.ts';
import { buildSentenceEmbedder } from '../src/models/stand-ins/sentence-embedder.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const APP = fixture('replace-app');
let server: TestServer;

beforeAll(async () => {
  await ensureStandIn(join(APP, 'models', 'busy.onnx'), () =>
    buildSentenceEmbedder({ vocabSize: 30522, hidden: 128, layers: 4, maxPositions: 64, seed: 5 }),
  );
  server = await startTestServer([APP], { abortGraceMs: 200, logLevel: 'info' });
});

afterAll(async () => {
  await server?.close();
});

it('replaces a replica stuck in back-to-back inference without taking the server down', async () => {
  const first = (await (await server.post('/v4/p-test/replace/once')).json()) as { result: { threadId: number } };

  // Call the stuck function and leave: the cancel aborts ctx.signal, which it ignores.
  await new Promise<void>((resolve) => {
    const req = request(`${server.url}/v4/p-test/replace/busyForever`, { method: 'POST' });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 500);
  });

  // After the abort grace the replica is terminated between two inference calls and a new one serves.
  const deadline = Date.now() + 10_000;
  let threadId = first.result.threadId;
  while (threadId === first.result.threadId && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const res = await server.post('/v4/p-test/replace/once');
    if (res.status === 200) threadId = ((await res.json()) as { result: { threadId: number } }).result.threadId;
  }
  expect(threadId).not.toBe(first.result.threadId);
  const stuck = server.logs().find((line) => line.function === 'busyForever' && 'status' in line);
  expect(stuck?.status).toBe('cancelled');
});
