// Cold-start breakdown, step 3: step 2, then what a replica imports before the app (its own code and
// 'cerebrium-local').
import { register as registerHook } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerHook('../../src/worker/resolve-self.mjs', import.meta.url);
registerTsx();
await import('../../src/worker/load-functions.ts');
await import('../../src/log.ts');
await import('../../src/index.ts');
parentPort.postMessage('ready');
