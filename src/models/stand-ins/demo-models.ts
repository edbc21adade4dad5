// The demo app's generated models, by name under models/. `npm run models` and the demo
// functions' first load both build them from here, so both give the same bytes.
import { join } from 'node:path';
import { bertEncoderGraph, MINILM_L6_SHAPE } from './bert-encoder.ts';
import { type EmbedderFolderSpec, ensureEmbedderFolder } from './embedder-folder.ts';
import { ensureStandIn } from './ensure.ts';
import { buildGpt2Decoder, DEFAULT_GPT2_DECODER } from './gpt2-decoder.ts';
import { buildSentenceEmbedder, DEFAULT_EMBEDDER, sentenceEmbedderGraph } from './sentence-embedder.ts';

export const DEMO_MODELS: Record<string, () => Uint8Array> = {
  /** The demo embedder's ONNX file alone (the same bytes as models/embed/onnx/model.onnx), for in-process benchmarks. */
  'embed.onnx': () => buildSentenceEmbedder(DEFAULT_EMBEDDER),
  /** Stands in for a GPT-2 decoder with past key/values (optimum's text-generation-with-past export). */
  'chat.onnx': () => buildGpt2Decoder(DEFAULT_GPT2_DECODER),
};

/** Stands in for sentence-transformers/all-MiniLM-L6-v2's export folder: small, fast, random weights. */
export const STAND_IN_EMBEDDER_FOLDER: EmbedderFolderSpec = {
  graph: () => sentenceEmbedderGraph(DEFAULT_EMBEDDER),
  hidden: DEFAULT_EMBEDDER.hidden,
  layers: DEFAULT_EMBEDDER.layers,
  maxPositions: DEFAULT_EMBEDDER.maxPositions,
  pooling: 'mean',
  maxSeqLength: 256,
  fp16: true,
  description: 'generated stand-in for all-MiniLM-L6-v2 (random weights; vectors mean nothing)',
};

/** all-MiniLM-L6-v2's architecture and cost with random weights (≈90 MB): `npm run models -- --realistic`. */
export const REALISTIC_EMBEDDER_FOLDER: EmbedderFolderSpec = {
  graph: () => bertEncoderGraph(MINILM_L6_SHAPE),
  hidden: MINILM_L6_SHAPE.hidden,
  layers: MINILM_L6_SHAPE.layers,
  maxPositions: MINILM_L6_SHAPE.maxPositions,
  pooling: 'mean',
  maxSeqLength: 256,
  description: 'generated MiniLM-L6-shaped BERT encoder (vocab 30522, hidden 384, 6 layers, 12 heads, FFN 1536; random weights)',
};

/** Folders under models/, by name. */
export const DEMO_FOLDERS = { embed: STAND_IN_EMBEDDER_FOLDER, 'minilm-l6-shaped': REALISTIC_EMBEDDER_FOLDER } as const;

/** Builds models/<name> in the app folder unless a file is there. True when it built one. */
export function ensureDemoModel(appDir: string, name: keyof typeof DEMO_MODELS): Promise<boolean> {
  const build = DEMO_MODELS[name];
  if (!build) throw new Error(`No generated model is named ${String(name)}`);
  return ensureStandIn(join(appDir, 'models', String(name)), build);
}

/** Builds the folder models/<name> unless it is there. True when it built it. */
export function ensureDemoFolder(appDir: string, name: keyof typeof DEMO_FOLDERS): Promise<boolean> {
  return ensureEmbedderFolder(join(appDir, 'models', name), DEMO_FOLDERS[name]);
}
