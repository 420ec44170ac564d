// A Web Worker of the browser benchmark (see bench/browser.mjs).
import { SharedMap } from '../../dist/index.js';
import * as workload from '../workload.mjs';
import { measure } from './loop.mjs';

self.onmessage = ({ data }) => {
  measure(SharedMap, workload, data, (msg) => self.postMessage(msg)).catch((err) =>
    self.postMessage({ type: 'error', message: `${err?.name}: ${err?.message}\n${err?.stack ?? ''}` }),
  );
};
