// `npm run models [-- --force]`: builds the demo app's generated stand-in models into models/.
// A file already there is kept (it may be a real export you dropped in) unless --force is given.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODELS, ensureDemoModel } from '../src/models/stand-ins/demo-models.ts';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const force = process.argv.includes('--force');

for (const name of Object.keys(DEMO_MODELS)) {
  const file = join(appDir, 'models', name);
  if (force) await rm(file, { force: true });
  const built = await ensureDemoModel(appDir, name);
  console.log(`${built ? 'generated' : 'kept (already there)'}: models/${name}`);
}
