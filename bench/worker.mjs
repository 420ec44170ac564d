// Worker side of the benchmark. workerData.role is one of:
//   'wasmap'    attach to the map, warm up, wait at the start barrier, run the
//               timed loop on the shared map, verify, close, report.
//   'private-map' the same loop on this thread's own JS Map (nothing shared):
//               a reference for how far 2 threads scale on this machine.
//   'sharedmap' the same loop on the npm `sharedmap` package's SharedArrayBuffer
//               map (a plain-JS shared map with locks), shared by the workers.
//   'pm-owner'  hold a JS Map and answer get/set requests on the given ports.
//   'pm-client' the timed loop against the owner: every get/set is a
//               postMessage request whose reply is awaited before the next.
import { parentPort, workerData } from 'node:worker_threads';
import PlainSharedMap from 'sharedmap';
import { SharedMap } from '../dist/index.js';
import { checkRun, latencySync, makeDataset, populate, runAsync, runSync, verify } from './workload.mjs';

const { role, seconds, warmup, seed, barrier } = workerData;

/** Tells main this thread is warmed up, then blocks until main releases every thread at once. */
function waitAtBarrier() {
  parentPort.postMessage({ type: 'ready' });
  Atomics.wait(barrier, 0, 0);
}

async function wasmapWorker() {
  const map = await SharedMap.attach(workerData.handle);
  try {
    const data = makeDataset();
    const mix = workerData.setFraction;
    runSync(map, data, warmup, seed ^ 0x5bd1e995, mix);
    waitAtBarrier();
    const run = runSync(map, data, seconds, seed, mix);
    const problems = [...checkRun(run), ...verify(map, data)];
    // Latency under the same load: the timing thread measures while every
    // other thread keeps running the mix, until it says it is done.
    const done = workerData.latencyDone;
    let latency;
    if (workerData.latencyOps) {
      latency = latencySync(map, data, workerData.latencyOps, seed ^ 0x1234, mix);
      if (done) Atomics.store(done, 0, 1);
    } else if (done) {
      while (Atomics.load(done, 0) === 0) runSync(map, data, 0.01, seed ^ 0x77, mix);
    }
    return { ...run, problems, threadId: map.threadId, latency };
  } finally {
    map.close();
  }
}

function sharedmapWorker() {
  const map = workerData.sharedmap;
  Object.setPrototypeOf(map, PlainSharedMap.prototype); // as its README says
  const data = makeDataset();
  runSync(map, data, warmup, seed ^ 0x5bd1e995);
  waitAtBarrier();
  const run = runSync(map, data, seconds, seed);
  return { ...run, problems: [...checkRun(run), ...verify(map, data)] };
}

function privateMapWorker() {
  const map = new Map();
  const data = makeDataset();
  populate(map, data);
  runSync(map, data, warmup, seed ^ 0x5bd1e995);
  waitAtBarrier();
  const run = runSync(map, data, seconds, seed);
  return { ...run, problems: [...checkRun(run), ...verify(map, data)] };
}

function ownerWorker() {
  const map = new Map();
  populate(map, makeDataset());
  let open = 0;
  for (const port of workerData.ports) {
    open++;
    port.on('message', (msg) => {
      if (msg[0] === 0) port.postMessage(map.get(msg[1]));
      else {
        map.set(msg[1], msg[2]);
        port.postMessage(true);
      }
    });
    // A client closes its port when it is done; the owner then has nothing
    // left to wait for and its thread exits by itself.
    port.once('close', () => {
      if (--open === 0) parentPort.postMessage({ type: 'result', served: map.size });
    });
  }
  parentPort.postMessage({ type: 'ready' });
}

async function clientWorker() {
  const port = workerData.port;
  let resolveReply = null;
  port.on('message', (reply) => {
    const r = resolveReply;
    resolveReply = null;
    r(reply);
  });
  const request = (msg) =>
    new Promise((resolve) => {
      resolveReply = resolve;
      port.postMessage(msg);
    });
  const store = {
    get: (key) => request([0, key]),
    set: (key, value) => request([1, key, value]),
  };
  const data = makeDataset();
  await runAsync(store, data, warmup, seed ^ 0x5bd1e995);
  waitAtBarrier();
  const run = await runAsync(store, data, seconds, seed);
  port.close();
  return { ...run, problems: checkRun(run) };
}

try {
  if (role === 'pm-owner') {
    ownerWorker();
  } else {
    const result =
      role === 'wasmap' ? await wasmapWorker()
        : role === 'private-map' ? privateMapWorker()
          : role === 'sharedmap' ? sharedmapWorker()
            : await clientWorker();
    parentPort.postMessage({ type: 'result', ...result });
  }
} catch (err) {
  parentPort.postMessage({ type: 'error', message: err?.stack ?? String(err), code: err?.code });
}
