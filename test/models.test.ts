// loadModel: one session per model per replica, the provider chain and its fallback, over a real
// server (test/fixtures/models-app, two replicas) and in-process for the log line.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, intraOpThreads, providerChain } from '../src/models/execution-providers.ts';
import { parseExecutionProvider } from '../src/models/provider-names.ts';
import { ensureStandIn } from '../src/models/stand-ins/ensure.ts';
import { buildSentenceEmbedder } from '../src/models/stand-ins/sentence-embedder.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const APP = fixture('models-app');
const MODEL = join(APP, 'models', 'tiny.onnx');
const TINY = { vocabSize: 30522, hidden: 8, layers: 1, maxPositions: 64, seed: 3 };

interface InferResult {
  threadId: number;
  provider: string;
  fellBack: { asked: string; used: string; why: string } | null;
  dims: number[];
  first: number;
  sessionsCreated: number;
  runs: Record<string, number>;
}

beforeAll(async () => {
  await rm(MODEL, { force: true });
  await ensureStandIn(MODEL, () => buildSentenceEmbedder(TINY));
});

describe('provider choice', () => {
  it('asks a GPU app for cuda, then webgpu, then cpu, and a CPU app for cpu only', () => {
    expect(providerChain(['AMPERE_A10'])).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(providerChain(['CPU'])).toEqual(['cpu']);
    expect(providerChain(['cpu'])).toEqual(['cpu']);
    expect(providerChain(['CPU'], 'cuda')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(providerChain(['ADA_L40'], 'webgpu')).toEqual(['webgpu', 'cpu']);
    expect(providerChain(['ADA_L40'], 'cpu')).toEqual(['cpu']);
  });

  it('refuses an unknown --execution-provider, naming the ones there are', () => {
    expect(parseExecutionProvider('CUDA')).toBe('cuda');
    expect(() => parseExecutionProvider('tpu')).toThrow(/cuda, webgpu, cpu.*"tpu"/);
  });

  it('shares the cores among replicas, capped by the replica cpu, never below one thread', () => {
    expect(intraOpThreads(2, 2, 2)).toBe(1);
    expect(intraOpThreads(4, 1, 16)).toBe(4);
    expect(intraOpThreads(8, 2, 16)).toBe(8);
    expect(intraOpThreads(8, 4, 16)).toBe(4);
    expect(intraOpThreads(2, 8, 2)).toBe(1);
  });

  it('falls back from cuda to cpu on a machine without CUDA, with one log line saying asked/used/why', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const choice = await createSession(MODEL, ['cuda', 'cpu'], { intraOpNumThreads: 1 }, log);
    try {
      expect(choice.provider).toBe('cpu');
      expect(choice.fellBack).toMatchObject({ asked: 'cuda', used: 'cpu' });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, asked: 'cuda', used: 'cpu', model: MODEL });
      expect(String(lines[0].why)).toMatch(/^cuda: /);
      expect(String(lines[0].msg)).toMatch(/cuda is not available.*runs on cpu/);
      expect(choice.session).toBeInstanceOf(InferenceSession);
    } finally {
      await choice.session.release();
    }
  });

  it('logs nothing when the first provider asked for loads', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const choice = await createSession(MODEL, ['cpu'], {}, log);
    await choice.session.release();
    expect(choice.provider).toBe('cpu');
    expect(choice.fellBack).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('fails plainly for a model file that is not there, instead of falling back forever', async () => {
    const log = { warn: () => undefined };
    await expect(createSession(join(APP, 'models', 'missing.onnx'), ['cuda', 'cpu'], {}, log)).rejects.toThrow(/missing\.onnx/);
  });
});

describe('sessions in replicas', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([APP]);
  });
  afterAll(async () => {
    await server?.close();
  });

  const infer = async (body: unknown = {}): Promise<InferResult> => {
    const res = await server.post('/v4/p-test/models/infer', body);
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: InferResult }).result;
  };

  it('creates a session once per replica and reuses it across many runs', async () => {
    const results: InferResult[] = [];
    for (let round = 0; round < 5; round++) results.push(...(await Promise.all(Array.from({ length: 8 }, () => infer()))));
    const byReplica = new Map<number, InferResult[]>();
    for (const r of results) byReplica.set(r.threadId, [...(byReplica.get(r.threadId) ?? []), r]);
    // Both replicas took runs, and neither ever made a second session.
    expect(byReplica.size).toBe(2);
    for (const runs of byReplica.values()) {
      expect(runs.every((r) => r.sessionsCreated === 1)).toBe(true);
      expect(Math.max(...runs.map((r) => r.runs[MODEL]))).toBeGreaterThanOrEqual(runs.length);
    }
    expect(results.every((r) => r.provider === 'cpu' && r.fellBack === null)).toBe(true);
    expect(results[0].dims).toEqual([1, 3, TINY.hidden]);
    expect(new Set(results.map((r) => r.first)).size).toBe(1);
  });
});

// --execution-provider (a named provider must load) and --strict-provider: test/providers.test.ts.
