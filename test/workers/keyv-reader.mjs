// Attaches to the map by its handle and reads, through a Keyv over an
// adapter of its own, the keys the main thread names.
import { parentPort, workerData } from 'node:worker_threads';
import Keyv from 'keyv';
import { SharedMap } from '../../dist/index.js';
import { KeyvWasmap } from '../../dist/keyv.js';

const map = await SharedMap.attach(workerData.handle);
const keyv = new Keyv({ store: new KeyvWasmap(map), namespace: workerData.namespace });
parentPort.on('message', async ({ keys }) => {
  const values = await Promise.all(keys.map((k) => keyv.get(k)));
  map.close();
  parentPort.postMessage({ values });
});
parentPort.postMessage({ ready: true });
