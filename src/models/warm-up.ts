// Warm-up: the models an app declares (`export const models = [...]` in one of its modules) are
// loaded as its replica starts, and each is run once on dummy inputs, so that the first caller pays
// neither session creation nor onnxruntime's first-run allocations. An entry is a model name or
// folder (loaded with loadModel and fed small dummy tensors its inputs declare), or a function that
// loads and runs whatever it needs (the demo embed warms its tokenizer and pooling too).
import { Tensor } from 'onnxruntime-node';
import type { Model } from './session-cache.ts';

export type DeclaredModel = string | (() => unknown);

interface Logger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

const DUMMY_LENGTH = 4;

/** Dummy inputs from the inputs' metadata: every symbolic axis 1 (batch) or DUMMY_LENGTH (sequence). */
function dummyFeeds(model: Model): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const meta of model.session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
    const dims = meta.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : DUMMY_LENGTH));
    const size = dims.reduce((a, b) => a * b, 1);
    if (meta.type === 'int64') feeds[meta.name] = new Tensor('int64', new BigInt64Array(size).fill(1n), dims);
    else if (meta.type === 'float32') feeds[meta.name] = new Tensor('float32', new Float32Array(size), dims);
    else if (meta.type === 'bool') feeds[meta.name] = new Tensor('bool', new Uint8Array(size), dims);
    else throw new Error(`input ${meta.name} is ${meta.type}: declare a function that warms this model instead`);
  }
  return feeds;
}

/** Loads and runs each declared model once; a failure is logged and leaves the model to its first call. */
export async function warmUpModels(declared: unknown, load: (name: string) => Promise<Model>, log: Logger): Promise<void> {
  if (declared === undefined) return;
  if (!Array.isArray(declared)) {
    log.warn({ models: typeof declared }, "the app's `models` export is not a list, so no model is warmed up");
    return;
  }
  for (const entry of declared as DeclaredModel[]) {
    const started = performance.now();
    const name = typeof entry === 'string' ? entry : entry.name || 'a warm-up function';
    try {
      if (typeof entry === 'string') {
        const model = await load(entry);
        await model.run(dummyFeeds(model));
      } else if (typeof entry === 'function') {
        await entry();
      } else {
        throw new Error('an entry must be a model name or folder, or a function');
      }
      log.info({ model: name, ms: Math.round(performance.now() - started) }, `warmed up ${name}`);
    } catch (err) {
      log.warn(
        { model: name, err: err instanceof Error ? err.message : String(err) },
        `could not warm up ${name}; its first call will load it`,
      );
    }
  }
}
