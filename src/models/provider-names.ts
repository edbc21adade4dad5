// The execution providers by name, without loading onnxruntime: the CLI checks --execution-provider
// on the server thread, which never loads models.
export const EXECUTION_PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export function isExecutionProvider(name: string): name is ExecutionProvider {
  return (EXECUTION_PROVIDERS as readonly string[]).includes(name);
}

/** A provider name (any case), or an error that lists the ones there are. */
export function parseExecutionProvider(name: string): ExecutionProvider {
  const lower = name.toLowerCase();
  if (!isExecutionProvider(lower)) {
    throw new Error(`--execution-provider must be one of ${EXECUTION_PROVIDERS.join(', ')}; got "${name}"`);
  }
  return lower;
}
