// Cold-start breakdown, step 3: step 2, then what a replica imports before the app (its own code;
// 'cerebrium-local' itself, with TypeBox, is the app's own import when it uses it).
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
parentPort.postMessage('ready');
