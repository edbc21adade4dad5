// A module resolution hook for replicas: `import … from 'cerebrium-local'` in an app anywhere on
// disk resolves to this copy of the package, so an app needs no install of its own to use
// defineFunction and the types.
const SELF = new URL('../index.ts', import.meta.url).href;
// 'cerebrium-local/models' too: loadModel, batched, Tensor (the app needs no onnxruntime of its own).
const MODELS = new URL('../models/index.ts', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'cerebrium-local') return { url: SELF, shortCircuit: true };
  if (specifier === 'cerebrium-local/models') return { url: MODELS, shortCircuit: true };
  return nextResolve(specifier, context);
}
