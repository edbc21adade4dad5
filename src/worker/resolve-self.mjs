// A module resolution hook for replicas: `import … from 'cerebrium-local'` (and its subpaths) in an
// app anywhere on disk resolves to this copy of the package, so an app needs no install of its own
// to use defineFunction, the types, or the model helpers (and no onnxruntime of its own).
const SELF = {
  'cerebrium-local': '../index.ts',
  'cerebrium-local/models': '../models/index.ts',
  'cerebrium-local/text-generation': '../models/text.ts',
  'cerebrium-local/ocr': '../models/ocr/index.ts',
};
const URLS = new Map(Object.entries(SELF).map(([name, path]) => [name, new URL(path, import.meta.url).href]));

export async function resolve(specifier, context, nextResolve) {
  const url = URLS.get(specifier);
  if (url) return { url, shortCircuit: true };
  return nextResolve(specifier, context);
}
