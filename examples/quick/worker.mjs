// worker.mjs: attaches to the same map through its handle.
import { workerData } from 'node:worker_threads';
import { SharedMap } from 'wasmap';

const map = await SharedMap.attach(workerData); // the same map, the same entries
for (let i = 0; i < 1000; i++) map.increment('visits');
map.set('greeting', `${map.get('greeting')} from a worker`);
map.close();
