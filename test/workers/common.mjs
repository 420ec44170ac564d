// Shared by the test workers: attach, report ready, wait for the barrier.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

export async function start() {
  const map = await SharedMap.attach(workerData.handle);
  parentPort.postMessage({ ready: true });
  Atomics.wait(workerData.barrier, 0, 0);
  return { map, data: workerData };
}

export function finish(map, result) {
  map.close();
  parentPort.postMessage({ result });
}

export function rng(seed) {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * A value that proves itself: writer, sequence number, then a body derived
 * from both, then a checksum. A torn value (bytes of two writes) fails check().
 */
export function makeValue(writer, seq, len) {
  let body = '';
  let h = (writer * 31 + seq) >>> 0;
  while (body.length < len) {
    h = (Math.imul(h, 1103515245) + 12345) >>> 0;
    body += String.fromCharCode(97 + (h % 26));
  }
  return `${writer}:${seq}:${body}:${checksum(body)}`;
}

export function check(value) {
  const [w, s, body, sum] = value.split(':');
  return value === makeValue(Number(w), Number(s), body.length) && checksum(body) === Number(sum);
}

function checksum(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}

/** Sets values of `size` bytes under keys `k${from}`, `k${from + 1}`, ...
 *  until the map is full (ERR_CAPACITY); returns how many it set. */
export function fillWith(map, size, from) {
  const value = 'v'.repeat(size);
  let n = 0;
  for (;;) {
    try {
      map.set(`k${from + n}`, value);
    } catch (e) {
      if (e.code === 'ERR_CAPACITY') return n;
      throw e;
    }
    n++;
  }
}
