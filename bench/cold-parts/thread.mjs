// Cold-start breakdown, step 1: a worker thread that does nothing.
import { parentPort } from 'node:worker_threads';

parentPort.postMessage('ready');
