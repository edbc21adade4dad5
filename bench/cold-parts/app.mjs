// Cold-start breakdown, step 4: step 3, then the bench's cold app itself (bench/apps/cold).
import { register as registerHook } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerHook('../../src/worker/resolve-self.mjs', import.meta.url);
registerTsx();
// What src/worker/replica.ts imports (it reads workerData, so it is not imported itself here).
await import('../../src/errors.ts');
await import('../../src/models/native-calls.ts');
await import('../../src/worker/load-functions.ts');
await import('../../src/worker/run-log-capture.ts');
await import('../../src/worker/sse-frame.ts');
await import('../apps/cold/main.ts');
parentPort.postMessage('ready');
