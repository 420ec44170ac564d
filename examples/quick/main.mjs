// main.mjs: creates the map, starts a worker on it, reads what it wrote.
import { Worker } from 'node:worker_threads';
import { SharedMap } from 'wasmap';

const map = await SharedMap.create({ maxMemoryBytes: 64 << 20 }); // every option optional
map.set('greeting', 'hello');
const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: map.handle });
map.releaseOnExit(worker); // if it dies mid-operation, what it held comes back
await new Promise((resolve) => worker.once('exit', resolve));
console.log(map.get('greeting'), map.get('visits')); // hello from a worker 1000
map.close();
