// wasmap/etcd against a real etcd 3.4 (Debian's etcd-server, started here on
// ports of its own): a prefix mirrored into the map, the same in every
// thread, at one revision at a time, through restarts and compaction.
import { Worker } from 'node:worker_threads';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { EtcdMirror } from '../dist/etcd.js';
import { describeShared, shared } from './helpers.js';
import { type EtcdServer, startEtcd } from './servers.js';

let server: EtcdServer;
let ext: Etcd3;
const open: EtcdMirror[] = [];

beforeAll(async () => {
  server = await startEtcd();
  ext = new Etcd3({ hosts: server.hosts });
}, 30_000);
afterAll(async () => {
  ext?.close();
  await server?.stop();
});
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
  await ext.delete().all().exec().catch(() => {});
});

async function mirror(prefix = 'cfg/'): Promise<EtcdMirror> {
  const m = await EtcdMirror.create({ etcd: { hosts: server.hosts }, prefix });
  open.push(m);
  return m;
}

/** Every key of the prefix in etcd now, and its revision. */
async function truth(prefix = 'cfg/'): Promise<{ revision: number; entries: [string, string][] }> {
  const res = await ext.getAll().prefix(prefix).exec();
  return {
    revision: Number(res.header.revision),
    entries: res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()] as [string, string]).sort(),
  };
}

const sorted = (r: { entries: [string, string][] }) => [...r.entries].sort();

describeShared('etcd mirror', () => {
  shared("the prefix's keys, then every put and delete by another client, at the revision they made", async () => {
    await ext.put('cfg/a').value('1').exec();
    await ext.put('cfg/b').value('2').exec();
    await ext.put('other/x').value('no').exec();
    const m = await mirror();
    let t = await truth();
    expect(m.revision).toBeGreaterThanOrEqual(t.revision);
    expect(sorted(m.read())).toEqual(t.entries);
    expect(m.get('other/x')).toBeUndefined();
    const put = await ext.put('cfg/a').value('3').exec();
    await m.waitFor(Number(put.header.revision));
    expect(m.get('cfg/a')).toBe('3');
    const del = await ext.delete().key('cfg/b').exec();
    await m.waitFor(Number(del.header.revision));
    expect(m.get('cfg/b')).toBeUndefined();
    t = await truth();
    expect(sorted(m.read())).toEqual(t.entries);
  });

  shared('a transaction of several keys appears in a worker whole, never half', async () => {
    await ext.put('cfg/x').value('0').exec();
    await ext.put('cfg/y').value('0').exec();
    const m = await mirror();
    const w = new Worker(new URL('./workers/etcd-reader.mjs', import.meta.url), { workerData: { handle: m.handle } });
    const result = new Promise<{ reads: number; torn: number; last: string }>((resolve, reject) => {
      w.on('message', resolve);
      w.on('error', reject);
    });
    let rev = 0;
    for (let i = 1; i <= 200; i++) {
      const r = await ext.if('cfg/x', 'Value', '==', String(i - 1))
        .then(ext.put('cfg/x').value(String(i)), ext.put('cfg/y').value(String(i)))
        .commit();
      rev = Number(r.header.revision);
    }
    await m.waitFor(rev);
    w.postMessage('stop');
    const r = await result;
    await w.terminate();
    expect(r.torn).toBe(0);
    expect(r.reads).toBeGreaterThan(100);
    expect(r.last).toBe('200');
  });

  shared('a restarted etcd: the lost watch resynchronises, nothing missed (also the write just before the crash)', async () => {
    const m = await mirror();
    await ext.put('cfg/k').value('before').exec();
    await server.kill();
    await server.start();
    let rev = 0;
    for (let i = 0; i < 20; i++) rev = Number((await ext.put(`cfg/n${i}`).value(String(i)).exec()).header.revision);
    await m.waitFor(rev);
    expect(sorted(m.read())).toEqual((await truth()).entries);
    expect(m.stats().resyncs).toBeGreaterThanOrEqual(1);
  }, 60_000);

  shared('a watch that fell behind a compaction resynchronises from a fresh read, and readers never see a gap', { timeout: 20_000 }, async () => {
    const m = await mirror();
    for (let i = 0; i < 10; i++) await ext.put(`cfg/${i}`).value('a').exec();
    const t0 = await truth();
    await m.waitFor(t0.revision);
    // Hold the mirror's watch back: its stream is cut, while other writes
    // land and etcd compacts them away.
    const held = (m as unknown as { watcher: { cancel(): Promise<void> } | null; watch(from: number): Promise<void> });
    await held.watcher!.cancel();
    const from = m.revision + 1;
    for (let i = 0; i < 10; i++) await ext.put(`cfg/${i}`).value('b').exec();
    await ext.delete().key('cfg/0').exec();
    const last = await ext.put('cfg/new').value('c').exec();
    await ext.kv.compact({ revision: last.header.revision, physical: true });
    // While the mirror catches up, a reader sees the old state whole or the new one whole.
    expect(sorted(m.read())).toEqual(t0.entries);
    await held.watch(from); // from a compacted revision: etcd cancels it
    await m.waitFor(Number(last.header.revision));
    expect(m.stats().resyncs).toBe(1);
    expect(sorted(m.read())).toEqual((await truth()).entries);
    // And it keeps watching after.
    const more = await ext.put('cfg/after').value('d').exec();
    await m.waitFor(Number(more.header.revision));
    expect(m.get('cfg/after')).toBe('d');
  });

  shared('other threads read the mirror at memory speed, the same as the one that keeps it', async () => {
    for (let i = 0; i < 100; i++) await ext.put(`cfg/${i}`).value(`v${i}`).exec();
    const m = await mirror();
    const other = await EtcdMirror.attach(m.handle);
    expect(other.revision).toBe(m.revision);
    expect(sorted(other.read())).toEqual(sorted(m.read()));
    expect(other.get('cfg/42')).toBe('v42');
    await other.close();
  });
});
