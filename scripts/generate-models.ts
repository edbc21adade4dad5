// `npm run models [-- --force] [-- --realistic]`: builds the demo app's generated stand-in models
// into models/ (embed.onnx, chat.onnx, and the export folder models/embed/). A file or folder already
// there is kept (it may be a real export you dropped in) unless --force is given.
// --realistic also writes models/minilm-l6-shaped/: an export folder with all-MiniLM-L6-v2's
// architecture and size (≈90 MB, random seeded weights), for benchmarks that need real model cost.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODELS, ensureDemoFolder, ensureDemoModel } from '../src/models/stand-ins/demo-models.ts';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const force = process.argv.includes('--force');
const realistic = process.argv.includes('--realistic');

for (const name of Object.keys(DEMO_MODELS)) {
  const file = join(appDir, 'models', name);
  if (force) await rm(file, { force: true });
  const built = await ensureDemoModel(appDir, name);
  console.log(`${built ? 'generated' : 'kept (already there)'}: models/${name}`);
}

const folders = realistic ? (['embed', 'minilm-l6-shaped'] as const) : (['embed'] as const);
for (const name of folders) {
  const dir = join(appDir, 'models', name);
  if (force) await rm(dir, { recursive: true, force: true });
  const started = performance.now();
  const built = await ensureDemoFolder(appDir, name);
  const took = built ? ` in ${((performance.now() - started) / 1000).toFixed(1)} s` : '';
  console.log(`${built ? 'generated' : 'kept (already there)'}: models/${name}/ (${dir})${took}`);
}
if (realistic) {
  console.log(
    `\nUse it for the demo embed: EMBED_MODEL=${join(appDir, 'models', 'minilm-l6-shaped')} in the app's .env ` +
      '(or EMBED_MODEL=minilm-l6-shaped, a name under models/), or pass it to replicas with --pass-env EMBED_MODEL.',
  );
}
