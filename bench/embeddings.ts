// Embeddings rows of `npm run bench`: 32 concurrent single-sentence callers through the demo app's
// `embed`, against raw onnxruntime in this process tokenising, running and pooling the same
// sentences with the same model folder and the same total intra-op threads. Two folders: the small
// generated stand-in (models/embed/: the serving path's own cost) and, with the full bench, a
// MiniLM-L6-shaped encoder (models/minilm-l6-shaped/: a model as costly as a real one).
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { readModelFolder } from '../src/models/model-folder.ts';
import { poolEmbeddings } from '../src/models/pooling.ts';
import { ensureDemoFolder } from '../src/models/stand-ins/demo-models.ts';
import { TextTokenizer } from '../src/models/text-tokenizer.ts';
import { dataDir, root, startProcess, stopProcess } from './processes.ts';

/** What the embeddings rows need from the bench that runs them. */
export interface EmbeddingsBench {
  reps: number;
  seconds: number;
  load(url: string, options: { seconds?: number; connections: number; bodies: string[] }): Promise<{ rps: number; errors: number }>;
  addRow(measure: string, unit: string, emulator: number[], baseline: number[], baselineName: string): void;
}

/** 32 different single sentences of about 16 tokens, as a chat app's embedding calls would send. */
const SENTENCES = Array.from(
  { length: 32 },
  (_, i) => `Sentence number ${i} talks about serverless inference, cold starts and replicas on a small machine.`,
);

/** Embeddings per second of raw onnxruntime in this process, tokenising and pooling as the demo does. */
async function rawEmbeddings(folder: string, batchSize: number, seconds: number): Promise<number> {
  const spec = readModelFolder(folder);
  const session = await InferenceSession.create(spec.modelFile, {
    executionProviders: ['cpu'],
    intraOpNumThreads: cpus().length,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const tokenizer = TextTokenizer.fromFolder(folder);
  const texts = SENTENCES.slice(0, batchSize);
  let embedded = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const batch = tokenizer.pad(texts.map((t) => tokenizer.encode(t, spec.maxSeqLength)));
    const dims = [batch.batchSize, batch.sequenceLength];
    const available: Record<string, BigInt64Array> = {
      input_ids: batch.inputIds,
      attention_mask: batch.attentionMask,
      token_type_ids: batch.tokenTypeIds,
    };
    const feeds = Object.fromEntries(session.inputNames.map((name) => [name, new Tensor('int64', available[name], dims)]));
    const out = await session.run(feeds);
    const hidden = out.last_hidden_state ?? out[session.outputNames[0]];
    poolEmbeddings(spec.pooling, hidden.data as Float32Array, hidden.dims, batch.attentionMask, spec.normalize);
    embedded += batchSize;
  }
  const rate = embedded / ((performance.now() - started) / 1000);
  await session.release();
  return rate;
}

/** The demo server with EMBED_MODEL set to `folder`, loaded by 32 callers; then the raw baselines. */
async function embeddingsRows(bench: EmbeddingsBench, name: string, folder: string, measure: string): Promise<void> {
  const emulator = await startProcess(
    `embed-${name}`,
    [
      join(root, 'bin/cerebrium-local.mjs'),
      'serve',
      root,
      '--log-level',
      'info',
      '--data-dir',
      dataDir(`embed-${name}`),
      '--pass-env',
      'EMBED_MODEL',
    ],
    { EMBED_MODEL: folder },
  );
  const url = `${emulator.url}/v4/p-bench/demo/embed`;
  const bodies = SENTENCES.map((input) => JSON.stringify({ input }));
  const through: number[] = [];
  try {
    await bench.load(url, { seconds: Math.min(3, bench.seconds), connections: 32, bodies });
    for (let rep = 0; rep < bench.reps; rep += 1) {
      const figures = await bench.load(url, { connections: 32, bodies });
      if (figures.errors > 0) throw new Error(`embeddings load (${name}) saw ${figures.errors} errors`);
      through.push(figures.rps);
    }
  } finally {
    await stopProcess(emulator);
  }
  const batch1: number[] = [];
  const batch32: number[] = [];
  for (let rep = 0; rep < bench.reps; rep += 1) {
    batch1.push(await rawEmbeddings(folder, 1, bench.seconds));
    batch32.push(await rawEmbeddings(folder, 32, bench.seconds));
  }
  bench.addRow(measure, 'embeddings/s', through, batch1, 'raw onnxruntime in-process, batch 1');
  bench.addRow(measure, 'embeddings/s', through, batch32, 'raw onnxruntime in-process, batch 32');
}

/** The generated stand-in (32 hidden units): the model is cheap, so this weighs the serving path. */
export async function benchEmbeddings(bench: EmbeddingsBench): Promise<void> {
  await ensureDemoFolder(root, 'embed');
  await embeddingsRows(bench, 'stand-in', join(root, 'models/embed'), 'embeddings, stand-in model, 32 concurrent single-sentence callers');
}

/** The MiniLM-L6-shaped folder (random weights, ≈90 MB, never committed), generated on first use. */
export async function realisticModelFolder(): Promise<string> {
  const started = performance.now();
  if (await ensureDemoFolder(root, 'minilm-l6-shaped')) {
    console.log(`bench: generated models/minilm-l6-shaped/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return join(root, 'models/minilm-l6-shaped');
}

/** A model as costly as all-MiniLM-L6-v2: what a staging box serving embeddings would see. */
export async function benchRealisticEmbeddings(bench: EmbeddingsBench): Promise<void> {
  const folder = await realisticModelFolder();
  await embeddingsRows(bench, 'minilm', folder, 'embeddings, MiniLM-L6-shaped model, 32 concurrent single-sentence callers');
}
