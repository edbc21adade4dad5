// The demo app's generated models, by file name under models/. `npm run models` and the demo
// functions' first load both build them from here, so both give the same bytes.
import { join } from 'node:path';
import { ensureStandIn } from './ensure.ts';
import { buildGpt2Decoder, DEFAULT_GPT2_DECODER } from './gpt2-decoder.ts';
import { buildSentenceEmbedder, DEFAULT_EMBEDDER } from './sentence-embedder.ts';

export const DEMO_MODELS: Record<string, () => Uint8Array> = {
  /** Stands in for sentence-transformers/all-MiniLM-L6-v2 (onnx/model.onnx). */
  'embed.onnx': () => buildSentenceEmbedder(DEFAULT_EMBEDDER),
  /** Stands in for a GPT-2 decoder with past key/values (optimum's text-generation-with-past export). */
  'chat.onnx': () => buildGpt2Decoder(DEFAULT_GPT2_DECODER),
};

/** Builds models/<name> in the app folder unless a file is there. True when it built one. */
export function ensureDemoModel(appDir: string, name: keyof typeof DEMO_MODELS): Promise<boolean> {
  const build = DEMO_MODELS[name];
  if (!build) throw new Error(`No generated model is named ${String(name)}`);
  return ensureStandIn(join(appDir, 'models', String(name)), build);
}
