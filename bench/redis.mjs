// wasmap/redis against the ways a process reads Redis today, on a Redis 7 it
// starts itself on a loopback port (Debian's redis-server): 2 worker threads
// each read keys drawn by Zipf(0.99) over KEYS keys of ~55-byte values, one
// read in flight per worker (await each), for SECONDS, after a warm-up:
//
//   redis      each worker's own node-redis client, every read a round trip
//   csc        each worker's own client with node-redis's client-side cache
//              (RESP3 tracking, one cache and one invalidation stream per
//              connection), as many entries as there are keys
//   wasmap     one RedisNearCache for the process (leader in the main
//              thread), each worker attached to it
//
// Then staleness: while the workers read through the near cache, another
// client writes a hot key; the time from its SET's reply until the near copy
// is gone (no worker can read the old value after), p50/p99 over WRITES
// writes. And memory per cached key: the map's bytes against one node-redis
// cache's JS heap, for KEYS keys.
//
// Part of `npm run bench` when redis-server is installed; alone:
// `node bench/redis.mjs`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { xorshift, zipf } from './workload.mjs';

const KEYS = 10_000;
const SECONDS = Number(process.env.BENCH_REDIS_SECONDS ?? 2);
const WARMUP = 1;
const WRITES = 200;
const SELF = fileURLToPath(import.meta.url);
const keyOf = (i) => `user:${i}`;
const valueOf = (i) => `{"uid":"u${String(i).padStart(8, '0')}","role":"member","ttl":360,"v":"A"}`;

async function readLoop(get, seed, stopAt) {
  const next = zipf(KEYS, xorshift(seed));
  let n = 0;
  let found = 0;
  while (performance.now() < stopAt) {
    for (let k = 0; k < 64; k++) {
      if ((await get(keyOf(next()))) !== null) found++;
      n++;
    }
  }
  return { n, found };
}

if (!isMainThread) {
  const { kind, url, near, seed } = workerData;
  const { createClient } = await import('redis');
  let get;
  let close;
  if (kind === 'wasmap') {
    const { RedisNearCache } = await import('../dist/redis.js');
    const nc = await RedisNearCache.attach(near, { url });
    get = (k) => nc.get(k);
    close = () => nc.close();
  } else {
    const client = createClient({ url, RESP: 3, ...(kind === 'csc' ? { clientSideCache: { maxEntries: KEYS } } : {}) });
    await client.connect();
    get = (k) => client.get(k);
    close = () => client.quit();
  }
  await readLoop(get, seed + 1, performance.now() + WARMUP * 1000);
  parentPort.postMessage({ ready: true });
  const { startAbs } = await new Promise((r) => parentPort.once('message', r));
  const stopAt = startAbs - performance.timeOrigin + SECONDS * 1000;
  const { n } = await readLoop(get, seed, stopAt);
  parentPort.postMessage({ n });
  if (workerData.keepReading) {
    // Keep the near cache busy while the main thread measures staleness.
    let stopping = false;
    parentPort.once('message', () => (stopping = true));
    while (!stopping) {
      await readLoop(get, seed + 7, performance.now() + 20);
      await new Promise((r) => setImmediate(r));
    }
  }
  await close();
  parentPort.postMessage({ closed: true });
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await redisTable());
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wasmap-bench-redis-'));
  const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    proc.once('exit', () => reject(new Error(`redis-server exited: ${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `kind` in 2 workers; ops/s over both. With keepReading, returns the workers still reading. */
async function run(kind, url, near, keepReading = false) {
  const workers = [0, 1].map((i) => new Worker(SELF, { workerData: { kind, url, near, seed: 17 + i, keepReading } }));
  const inbox = workers.map((w) => {
    const q = [];
    const waiters = [];
    w.on('message', (m) => (waiters.length > 0 ? waiters.shift()(m) : q.push(m)));
    w.on('error', (e) => console.error(e));
    return () => (q.length > 0 ? Promise.resolve(q.shift()) : new Promise((r) => waiters.push(r)));
  });
  await Promise.all(inbox.map((next) => next())); // warmed up
  const startAbs = performance.timeOrigin + performance.now() + 20;
  for (const w of workers) w.postMessage({ startAbs });
  const counts = await Promise.all(inbox.map((next) => next()));
  const opsPerSec = counts.reduce((s, c) => s + c.n, 0) / SECONDS;
  const stop = async () => {
    if (keepReading) for (const w of workers) w.postMessage({ close: true });
    await Promise.all(inbox.map((next) => next()));
    await Promise.all(workers.map((w) => w.terminate()));
  };
  if (keepReading) return { opsPerSec, stop };
  await stop();
  return { opsPerSec };
}

export async function redisTable() {
  if (!existsSync('/usr/bin/redis-server')) return 'wasmap/redis: skipped (no /usr/bin/redis-server; node scripts/ensure-servers.mjs installs it)';
  const { createClient, BasicClientSideCache } = await import('redis');
  const { RedisNearCache } = await import('../dist/redis.js');
  const server = await startServer();
  const lines = [];
  try {
    const admin = createClient({ url: server.url });
    await admin.connect();
    for (let i = 0; i < KEYS; i += 500) {
      const m = admin.multi();
      for (let j = i; j < Math.min(KEYS, i + 500); j++) m.set(keyOf(j), valueOf(j));
      await m.exec();
    }
    const redis = await run('redis', server.url);
    const csc = await run('csc', server.url);
    const near = await RedisNearCache.create({ url: server.url, prefixes: ['user:'] });
    const wasmap = await run('wasmap', server.url, near.handle, true);

    // Staleness under load: a write to a hot key, then how long until no worker can read the old value.
    const ns = near.ns;
    const gaps = [];
    for (let w = 0; w < WRITES; w++) {
      const key = keyOf(w % 20);
      const old = await near.get(key); // cached
      if (ns.get(`d${key}`) !== old) continue; // not cached this time (a write was in flight)
      await admin.set(key, `${valueOf(w)}#${w}`);
      const t0 = performance.now();
      // Until the near copy is no longer the old value (gone, or the new one a worker read since).
      while (ns.get(`d${key}`) === old) await new Promise((r) => setImmediate(r));
      gaps.push(performance.now() - t0);
    }
    await wasmap.stop();
    gaps.sort((a, b) => a - b);
    const pct = (p) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))];

    // Memory per cached key: the map's bytes against one node-redis cache's heap.
    await near.close();
    const fresh = await RedisNearCache.create({ url: server.url, prefixes: ['user:'] });
    const used0 = fresh.map.memoryUsage().usedBytes;
    for (let i = 0; i < KEYS; i++) await fresh.get(keyOf(i));
    const mapPerKey = (fresh.map.memoryUsage().usedBytes - used0) / KEYS;
    await fresh.close();
    // The collector, to measure a heap: exposed here, as `node --expose-gc` would.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const cache = new BasicClientSideCache({ maxEntries: KEYS });
    const client = createClient({ url: server.url, RESP: 3, clientSideCache: cache });
    await client.connect();
    for (let i = 0; i < KEYS; i++) await client.get(keyOf(i));
    gc();
    const cscPerKey = (process.memoryUsage().heapUsed - heap0) / KEYS;
    await client.quit();
    await admin.quit();

    const m = (v) => `${(v / 1000).toFixed(0)}k`;
    lines.push(`Redis near cache: 2 workers, Zipf(0.99) reads over ${KEYS} keys, one read in flight per worker (ops/s over both)`);
    lines.push(`  straight from Redis (node-redis):        ${m(redis.opsPerSec)}`);
    lines.push(`  node-redis client-side cache per worker: ${m(csc.opsPerSec)}`);
    lines.push(`  wasmap/redis, one near cache:           ${m(wasmap.opsPerSec)}  = ${(wasmap.opsPerSec / redis.opsPerSec).toFixed(1)}x Redis (goal >= 20: ${wasmap.opsPerSec / redis.opsPerSec >= 20 ? 'yes' : 'NO'}), ${(wasmap.opsPerSec / csc.opsPerSec).toFixed(2)}x node-redis's cache (goal >= 1.5: ${wasmap.opsPerSec / csc.opsPerSec >= 1.5 ? 'yes' : 'NO'})`);
    lines.push(`  staleness after another client's write, under load: p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms, max ${gaps[gaps.length - 1].toFixed(2)} ms (${WRITES} writes)`);
    lines.push(`  memory per cached key: wasmap ${mapPerKey.toFixed(0)} B off the JS heap, once per process; node-redis's cache ~${cscPerKey.toFixed(0)} B of JS heap per connection (x workers)`);
  } finally {
    server.stop();
  }
  return lines.join('\n');
}
