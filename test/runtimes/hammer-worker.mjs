// One worker of hammer.mjs: a Web Worker (Deno, Bun) or a worker_threads
// worker (Node). Round j of N:
//   increment('total'), increment('c:<j % 8>')   (3 sets counted per round with the next line)
//   set(own key j), get(own key j) must return it
//   on odd j: delete(own key j - 1) must return true
// so after every worker stops: total = workers × N, each c:k = workers × N / 8,
// and the odd own keys remain.
import { SharedMap } from 'wasmap';
import { listen } from '../../scripts/any-worker.mjs';
import { COUNTERS, ownKey, ownValue } from './hammer-shared.mjs';

let map;
let job;

async function onMessage(m) {
  try {
    if (m.type === 'attach') {
      job = m;
      map = await SharedMap.attach(m.handle);
      post({ type: 'ready', threadId: map.threadId });
    } else if (m.type === 'go') {
      const { index: i, n } = job;
      let ops = 0;
      for (let j = 0; j < n; j++) {
        map.increment(COUNTERS[0], 1);
        map.increment(COUNTERS[1 + (j % 8)], 1);
        map.set(ownKey(i, j), ownValue(i, j));
        const back = map.get(ownKey(i, j));
        if (back !== ownValue(i, j)) throw new Error(`get(${ownKey(i, j)}) returned ${back} right after set`);
        ops += 4;
        if (j % 2 === 1) {
          if (!map.delete(ownKey(i, j - 1))) throw new Error(`delete(${ownKey(i, j - 1)}) found nothing`);
          ops++;
        }
      }
      map.close();
      post({ type: 'done', ops });
    }
  } catch (err) {
    post({ type: 'error', error: err?.stack ?? String(err) });
  }
}

// Before any other await, so that no message is missed.
const post = await listen(onMessage);
