// One InferenceSession per model per replica. A replica is a worker thread and this module is
// loaded once per thread, so a module-level map is exactly "per replica": the first run that asks
// for a model creates its session, every later run (and every concurrent one) reuses it.
//
// Sessions go with their replica: when piscina ends the thread, Node tears down its N-API
// environment and onnxruntime's finalisers free the native sessions (worker threads get no 'exit'
// event on terminate, so there is no later JS hook to call release() from). `releaseModels()` frees
// them earlier, for code that wants to.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  createSession,
  type ExecutionProvider,
  type ProviderChoice,
  type ProviderOptions,
  type WarnLogger,
} from './execution-providers.ts';
import type { ModelFolder } from './model-folder.ts';
import { duringNativeCall } from './native-calls.ts';
import { reportModelSession } from './provider-report.ts';

export interface Model {
  readonly path: string;
  /** The provider the session actually runs on (after any fallback). */
  readonly provider: ExecutionProvider;
  /** Set when the first provider asked for did not load. */
  readonly fellBack?: ProviderChoice['fellBack'];
  /** The CUDA device the session was given (its replica's place in the round robin). */
  readonly deviceId?: number;
  /** What the model's export folder says (tokenizer, pooling, max_seq_length), when it was loaded from one. */
  readonly folder?: ModelFolder;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * The onnxruntime session itself, for what `run` does not cover. Prefer `run`: only calls made
   * through it are known to be in flight when a stuck replica has to be replaced safely.
   */
  readonly session: InferenceSession;
  /** session.run, counted in modelStats(). */
  run(feeds: Record<string, Tensor>, options?: InferenceSession.RunOptions): Promise<InferenceSession.ReturnType>;
}

export interface ModelStats {
  /** Sessions this replica has created since it started (a reused session does not count). */
  sessionsCreated: number;
  /** session.run calls made through Model.run in this replica, by model path. */
  runs: Record<string, number>;
}

const sessions = new Map<string, Promise<Model>>();
const stats: ModelStats = { sessionsCreated: 0, runs: {} };

export interface SessionRequest {
  path: string;
  chain: ExecutionProvider[];
  options: InferenceSession.SessionOptions;
  log: WarnLogger;
  providerOptions?: ProviderOptions;
  folder?: ModelFolder;
  /** The app whose replica this is, for the report /ready and /metrics show. */
  app?: string;
}

/** The cached model for this request, creating its session on first use. */
export function cachedModel(request: SessionRequest): Promise<Model> {
  // Same file, same providers and options → same session; a different choice is a different session.
  const key = JSON.stringify([request.path, request.chain, request.options, request.providerOptions]);
  let model = sessions.get(key);
  if (!model) {
    model = openModel(request);
    sessions.set(key, model);
    // A failed load is not cached: the next call tries again (the file may have been fixed).
    model.catch(() => sessions.delete(key));
  }
  return model;
}

async function openModel({ path, chain, options, log, providerOptions = {}, folder, app }: SessionRequest): Promise<Model> {
  const choice = await duringNativeCall(() => createSession(path, chain, options, log, providerOptions));
  stats.sessionsCreated += 1;
  const { session } = choice;
  const deviceId = choice.provider === 'cuda' ? providerOptions.deviceId : undefined;
  if (app) {
    const { asked, why } = choice.fellBack ?? {};
    reportModelSession({ app, model: folder?.dir ?? path, provider: choice.provider, asked, why, deviceId });
  }
  return {
    path,
    provider: choice.provider,
    fellBack: choice.fellBack,
    deviceId,
    folder,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    session,
    run(feeds, runOptions) {
      stats.runs[path] = (stats.runs[path] ?? 0) + 1;
      return duringNativeCall(() => (runOptions ? session.run(feeds, runOptions) : session.run(feeds)));
    },
  };
}

/** A copy of this replica's counters. */
export function modelStats(): ModelStats {
  return { sessionsCreated: stats.sessionsCreated, runs: { ...stats.runs } };
}

/** Frees every session of this replica now; a later loadModel creates them again. */
export async function releaseModels(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map(async (m) => (await m.catch(() => undefined))?.session.release()));
}
