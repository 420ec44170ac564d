// Reads cfg/x and cfg/y through an etcd mirror until told to stop: at one
// revision (read before and after the pair), the two must be equal (the test
// writes them in one transaction each time).
import { parentPort, workerData } from 'node:worker_threads';
import { EtcdMirror } from '../../dist/etcd.js';

const m = await EtcdMirror.attach(workerData.handle);
let stop = false;
parentPort.once('message', () => (stop = true));
let reads = 0;
let torn = 0;
while (!stop) {
  for (let i = 0; i < 1000; i++) {
    const r1 = m.revision;
    const x = m.get('cfg/x');
    const y = m.get('cfg/y');
    if (m.revision === r1) {
      reads++;
      if (x !== y) torn++;
    }
  }
  await new Promise((r) => setImmediate(r));
}
parentPort.postMessage({ reads, torn, last: m.get('cfg/y') });
