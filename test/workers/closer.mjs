// A worker that replaces and deletes large values (their blocks are retired,
// to be freed once no thread can read them), says so, and closes at once.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const map = await SharedMap.attach(workerData.handle);
const value = 'v'.repeat(32 << 10);
for (let i = 0; i < 64; i++) map.set(`closer:${i % 4}`, value);
for (let k = 0; k < 4; k++) map.delete(`closer:${k}`);
parentPort.postMessage({ closing: true });
map.close();
parentPort.postMessage({ closed: true });
