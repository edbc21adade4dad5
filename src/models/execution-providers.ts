// Which onnxruntime execution provider a session runs on, and how many threads it gets.
// A GPU app ([cerebrium.hardware].compute names a GPU) asks for CUDA, then WebGPU, then CPU; a "CPU"
// app asks for CPU only; --execution-provider (or loadModel's option) starts the chain elsewhere.
// onnxruntime throws when a provider's libraries or adapter are missing and never falls back by
// itself, so each provider is tried in turn and the outcome is told in ONE log line, with the reason
// found for each failure (provider-diagnosis.ts). In strict mode the first provider must load.
import { availableParallelism } from 'node:os';
import { InferenceSession } from 'onnxruntime-node';
import { providerFailureReason } from './provider-diagnosis.ts';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from './provider-names.ts';

export { EXECUTION_PROVIDERS, type ExecutionProvider, isExecutionProvider, parseExecutionProvider } from './provider-names.ts';

/** The providers to try, best first; CPU is always last, since it always loads. */
export function providerChain(compute: readonly string[], override?: ExecutionProvider): ExecutionProvider[] {
  const onGpu = compute.some((c) => c.toUpperCase() !== 'CPU');
  const first = override ?? (onGpu ? 'cuda' : 'cpu');
  return EXECUTION_PROVIDERS.slice(EXECUTION_PROVIDERS.indexOf(first));
}

/**
 * Intra-op threads per session: the machine's cores shared among the app's replicas, and no more
 * than the replica's own `cpu`. At least one. (Spinning threads are off: on shared cores they make
 * latency jumpy.)
 */
export function intraOpThreads(cpu: number, maxReplicas: number, cores = availableParallelism()): number {
  const perReplica = Math.floor(cores / Math.max(1, maxReplicas));
  return Math.max(1, Math.min(Math.floor(cpu) || 1, perReplica));
}

/** What choosing a provider came to; `fellBack` is set when the first choice did not load. */
export interface ProviderChoice {
  session: InferenceSession;
  provider: ExecutionProvider;
  fellBack?: { asked: ExecutionProvider; used: ExecutionProvider; why: string };
}

export interface WarnLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ProviderOptions {
  /** Fail with the first provider's reason instead of falling back (--execution-provider, --strict-provider). */
  strict?: boolean;
  /** The CUDA device this replica uses (its place in the round robin over the visible GPUs). */
  deviceId?: number;
}

/** Thrown when a strictly requested provider cannot be used; the message carries the reason found. */
export class ExecutionProviderError extends Error {
  override name = 'ExecutionProviderError';
  constructor(
    readonly provider: ExecutionProvider,
    readonly reason: string,
    modelPath: string,
  ) {
    super(`Execution provider ${provider} cannot be used for ${modelPath}: ${reason}`);
  }
}

function providerEntry(provider: ExecutionProvider, deviceId: number | undefined): InferenceSession.ExecutionProviderConfig {
  return provider === 'cuda' && deviceId !== undefined ? { name: 'cuda', deviceId } : provider;
}

/**
 * Creates a session on the first provider of `chain` that loads; logs once, with the reason, if that
 * was not the first. Strict: only the first is tried, and its failure is the error.
 */
export async function createSession(
  modelPath: string,
  chain: readonly ExecutionProvider[],
  options: InferenceSession.SessionOptions,
  log: WarnLogger,
  providerOptions: ProviderOptions = {},
): Promise<ProviderChoice> {
  const failures: string[] = [];
  const tried = providerOptions.strict ? chain.slice(0, 1) : chain;
  for (const provider of tried) {
    try {
      const executionProviders = [providerEntry(provider, providerOptions.deviceId)];
      const session = await InferenceSession.create(modelPath, { ...options, executionProviders });
      const asked = chain[0];
      if (provider === asked) return { session, provider };
      const fellBack = { asked, used: provider, why: failures.join('; ') };
      log.warn(
        { model: modelPath, asked, used: provider, why: fellBack.why },
        `execution provider ${asked} is not available, so ${modelPath} runs on ${provider} (${fellBack.why})`,
      );
      return { session, provider, fellBack };
    } catch (err) {
      // CPU failing is a real failure (a missing or broken model file, say): nothing is left to try.
      if (provider === 'cpu') throw err;
      const reason = providerFailureReason(provider, firstLine(err));
      if (providerOptions.strict) throw new ExecutionProviderError(provider, reason, modelPath);
      failures.push(`${provider}: ${reason}`);
    }
  }
  throw new Error(`No execution provider to try for ${modelPath}`);
}

/** The reason, short: onnxruntime prefixes its messages with a source path and a failed check. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  let line = (text.split('\n').find((l) => l.trim()) ?? text).replace(/^\/onnxruntime_src\/\S+\s+/, '');
  const check = line.indexOf(' was false. ');
  if (check >= 0) line = line.slice(check + ' was false. '.length);
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
