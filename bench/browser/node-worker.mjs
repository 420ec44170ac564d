// The same measuring thread as worker.mjs, as a Node worker thread: the
// reference bench/browser.mjs prints next to the browser's figure.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import * as workload from '../workload.mjs';
import { measure } from './loop.mjs';

measure(SharedMap, workload, workerData, (msg) => parentPort.postMessage(msg)).catch((err) =>
  parentPort.postMessage({ type: 'error', message: `${err?.name}: ${err?.message}\n${err?.stack ?? ''}` }),
);
