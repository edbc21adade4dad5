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
import { cachedModel, type Model } from './session-cache.ts';

export type { InferenceSession } from 'onnxruntime-node';
export { Tensor } from 'onnxruntime-node';
export { type BatchCaller, type BatchFunction, type BatchOptions, batched } from './batching.ts';
export { EXECUTION_PROVIDERS, type ExecutionProvider } from './execution-providers.ts';
export { type Model, type ModelStats, modelStats, releaseModels } from './session-cache.ts';
export { type Encoding, WordPieceTokenizer } from './wordpiece.ts';

export interface LoadModelOptions {
  /** Start the provider chain here instead of where compute / --execution-provider put it. */
  executionProvider?: ExecutionProvider;
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

/** The model's session for this replica: created by the first call, the same one for every later call. */
export function loadModel(nameOrPath: string, options: LoadModelOptions = {}): Promise<Model> {
  const override =
    options.executionProvider ?? (settings.executionProvider ? parseExecutionProvider(settings.executionProvider) : undefined);
  const sessionOptions: InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? intraOpThreads(settings.cpu, settings.maxReplicas),
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  return cachedModel({
    path: modelPath(nameOrPath, options.appDir),
    chain: providerChain(settings.compute, override),
    options: sessionOptions,
    log: options.log ?? defaultLog(),
  });
}
export { meanPoolNormalized } from './pooling.ts';
