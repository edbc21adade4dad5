// What an app's functions import to run ONNX models: `import { loadModel } from 'cerebrium-local/models'`.
//
//   const model = await loadModel('encoder.onnx');   // <app>/models/encoder.onnx, once per replica
//   const out = await model.run({ input_ids: new Tensor('int64', ids, [1, n]), ... });
//
// The provider comes from [cerebrium.hardware].compute (GPU: cuda → webgpu → cpu; "CPU": cpu) unless
// --execution-provider or the `executionProvider` option says otherwise; threads fit the replica.
// Outside a replica (a script, a benchmark) the same calls work with CPU defaults.
import { isAbsolute, resolve } from 'node:path';
import { workerData } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { createLogger, type Logger } from '../log.ts';
import type { ReplicaData, ReplicaModelSettings } from '../replica-protocol.ts';
import { type ExecutionProvider, intraOpThreads, parseExecutionProvider, providerChain, type WarnLogger } from './execution-providers.ts';
import { deviceIdFor, replicaOrdinal } from './gpu-placement.ts';
import { isDirectory, type ModelDtype, type ModelFolder, readModelFolder } from './model-folder.ts';
import { loaderFinds } from './provider-diagnosis.ts';
import { cachedModel, type Model } from './session-cache.ts';
import { type TextEmbedder, type TextEmbedderOptions, textEmbedder } from './text-embedder.ts';

export type { InferenceSession } from 'onnxruntime-node';
export { Tensor } from 'onnxruntime-node';
export { type BatchCaller, type BatchFunction, type BatchOptions, batched } from './batching.ts';
export { EXECUTION_PROVIDERS, type ExecutionProvider, ExecutionProviderError } from './execution-providers.ts';
export { floatData } from './float16.ts';
export { MODEL_DTYPES, type ModelDtype, type ModelFolder, type PoolingMode } from './model-folder.ts';
export { type Model, type ModelStats, modelStats, releaseModels } from './session-cache.ts';
export { type Embedded, type TextEmbedder, type TextEmbedderOptions, textEmbedder } from './text-embedder.ts';
export { type TextEncoding, TextTokenizer } from './text-tokenizer.ts';
export { type DeclaredModel, warmUpModels } from './warm-up.ts';
export { type Encoding, WordPieceTokenizer } from './wordpiece.ts';

export interface LoadModelOptions {
  /** Start the provider chain here instead of where compute / --execution-provider put it. */
  executionProvider?: ExecutionProvider;
  /** Fail with the reason when the first provider cannot be used, instead of falling back (default: the server's choice). */
  strictProvider?: boolean;
  /** For a model folder: which ONNX file, by dtype (default fp32: model.onnx or onnx/model.onnx). */
  dtype?: ModelDtype;
  /** For a model folder: the ONNX file to load, relative to it (e.g. "onnx/model_O4.onnx"); wins over dtype. */
  file?: string;
  /** Intra-op threads; by default the cores shared among the app's replicas. */
  intraOpNumThreads?: number;
  /** Where the fallback line goes; the replica's logger by default. */
  log?: WarnLogger;
  /** Resolve relative paths against this app folder instead of the replica's. */
  appDir?: string;
}

// Inside a replica workerData is its ReplicaData; on the main thread of a script it is null.
const replica = (workerData ?? null) as ReplicaData | null;
const settings: ReplicaModelSettings = replica?.models ?? { compute: ['CPU'], cpu: 2, maxReplicas: 1 };

let replicaLog: Logger | undefined;
const defaultLog = (): Logger =>
  (replicaLog ??= createLogger(
    { level: replica?.logLevel ?? 'info', pretty: replica?.prettyLogs ?? false },
    { app: replica?.appName, component: 'models' },
  ));

/** The absolute path a model name stands for: as given when absolute, else under <app>/models/. */
export function modelPath(nameOrPath: string, appDir = replica?.appDir ?? process.cwd()): string {
  return isAbsolute(nameOrPath) ? nameOrPath : resolve(appDir, 'models', nameOrPath);
}

let vulkanLoader: boolean | undefined;
/**
 * WebGPU is tried after CUDA only where a Vulkan loader is installed: without one Dawn can find no
 * adapter, and trying costs a failed attempt and a Dawn warning on stderr per session. Asked for
 * first (--execution-provider webgpu), it stays, so the load fails saying why.
 */
function usableChain(chain: ExecutionProvider[]): ExecutionProvider[] {
  if (chain[0] === 'webgpu' || !chain.includes('webgpu')) return chain;
  vulkanLoader ??= loaderFinds('libvulkan.so.1');
  return vulkanLoader ? chain : chain.filter((p) => p !== 'webgpu');
}

/**
 * The export folder at `path` (undefined for a file), read once per replica: functions call loadModel
 * on every call, and a folder's JSON files would otherwise be read again each time. Only a folder read
 * is kept: a missing path or an unreadable folder is looked at again, so the next call says why.
 */
const folders = new Map<string, ModelFolder>();
function modelFolderAt(path: string, { dtype, file }: LoadModelOptions): ModelFolder | undefined {
  const key = JSON.stringify([path, dtype, file]);
  const known = folders.get(key);
  if (known) return known;
  const folder = isDirectory(path) ? readModelFolder(path, { dtype, file }) : undefined;
  if (folder) folders.set(key, folder);
  return folder;
}

/**
 * The model's session for this replica: created by the first call, the same one for every later call.
 * `nameOrPath` is an .onnx file or a Hugging Face-style export folder (model.onnx or onnx/model*.onnx,
 * tokenizer.json, 1_Pooling/config.json, sentence_bert_config.json), whose settings come back as `folder`.
 */
export function loadModel(nameOrPath: string, options: LoadModelOptions = {}): Promise<Model> {
  const serverProvider = settings.executionProvider ? parseExecutionProvider(settings.executionProvider) : undefined;
  const override = options.executionProvider ?? serverProvider;
  // A provider the operator named (--execution-provider) must load; so must compute's with --strict-provider.
  const strict = options.strictProvider ?? (serverProvider !== undefined || settings.strictProvider === true);
  const path = modelPath(nameOrPath, options.appDir);
  let folder: ModelFolder | undefined;
  try {
    folder = modelFolderAt(path, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const sessionOptions: InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? intraOpThreads(settings.cpu, settings.maxReplicas),
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  return cachedModel({
    path: folder?.modelFile ?? path,
    chain: usableChain(providerChain(settings.compute, override)),
    options: sessionOptions,
    log: options.log ?? defaultLog(),
    providerOptions: { strict, deviceId: deviceIdFor(replicaOrdinal(settings.replicaCounter), settings.gpus ?? 0) },
    folder,
    app: replica?.appName,
  });
}
export { meanPoolNormalized, poolEmbeddings } from './pooling.ts';

/** A folder's model with its own tokenizer and pooling, ready to embed texts (see text-embedder.ts). */
export async function loadTextEmbedder(folder: string, options: LoadModelOptions & TextEmbedderOptions = {}): Promise<TextEmbedder> {
  return textEmbedder(await loadModel(folder, options), options);
}
