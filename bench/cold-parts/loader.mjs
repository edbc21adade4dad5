// Cold-start breakdown, step 2: the thread registers the loader hooks a replica registers (src/worker/bootstrap.mjs).
import { register as registerHook } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerHook('../../src/worker/resolve-self.mjs', import.meta.url);
registerTsx();
parentPort.postMessage('ready');
