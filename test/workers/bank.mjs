// Transfers between accounts by atomic() commits and update(), and audits
// (transactions.test.ts). Accounts `acct:i` hold balances as strings, moved
// by read-check-write commits; counters `ctr:i` by increment commits. Every
// transfer keeps each group's sum, so an audit that sees another sum saw a
// commit in part.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { rng } from './common.mjs';

export const balance = (map, key) => Number(map.get(key));

/** One transfer between two accounts of `accounts`; returns whether it committed. */
export function transfer(map, next, accounts, hold = 0) {
  const a = Math.floor(next() * accounts);
  let b = Math.floor(next() * (accounts - 1));
  if (b >= a) b++;
  const x = 1 + Math.floor(next() * 5);
  if (next() < 0.5) {
    const ea = map.getEntry(`acct:${a}`);
    const eb = map.getEntry(`acct:${b}`);
    const op = map.atomic()
      .check(`acct:${a}`, ea.modRevision).check(`acct:${b}`, eb.modRevision)
      .set(`acct:${a}`, String(Number(ea.value) - x)).set(`acct:${b}`, String(Number(eb.value) + x));
    // Tests: held (until killed) at the hold-th step of the commit.
    if (hold > 0) map.__hold(hold);
    return op.commit().ok;
  }
  const op = map.atomic().increment(`ctr:${a}`, -x).increment(`ctr:${b}`, x);
  if (hold > 0) map.__hold(hold);
  return op.commit().ok;
}

/**
 * An audit: every account read, then a commit that only checks that none
 * changed since. Returns the two sums, or undefined if some account changed
 * meanwhile (the caller tries again).
 */
export function audit(map, accounts) {
  const op = map.atomic();
  let acct = 0;
  let ctr = 0;
  for (let i = 0; i < accounts; i++) {
    const e = map.getEntry(`acct:${i}`);
    const c = map.getEntry(`ctr:${i}`);
    acct += Number(e.value);
    ctr += c.value;
    op.check(`acct:${i}`, e.modRevision).check(`ctr:${i}`, c.modRevision);
  }
  return op.commit().ok ? { acct, ctr } : undefined;
}

if (parentPort !== null && workerData?.bank) {
  const { handle, role, accounts, stop, progress, index, seed, hold } = workerData;
  const map = await SharedMap.attach(handle);
  const next = rng(seed * 7919 + index + 1);
  parentPort.postMessage({ ready: true, holdWord: map.__holdWord });
  if (workerData.go) Atomics.wait(workerData.go, 0, 0);
  const tally = { transfers: 0, failed: 0, audits: 0, bad: [], updates: 0, conflicts: 0 };
  const seen = new Map(); // rev-reader: key -> { mod, max } at its last read
  let max = 0;
  for (let i = 0; Atomics.load(stop, 0) === 0; i++) {
    if (role === 'transfer') {
      // A victim's third transfer is held at a step of its commit.
      if (transfer(map, next, accounts, i === 2 ? hold ?? 0 : 0)) tally.transfers++;
      else tally.failed++;
    } else if (role === 'pair-writer') {
      // Both keys of a pair written by one commit, at one revision.
      const v = `${index}:${i}`;
      map.atomic().set('pair:x', v).set('pair:y', v).commit();
      tally.transfers++;
    } else if (role === 'pair-reader') {
      // A commit took effect before x showed it, and it wrote y too: y, read
      // after x, is at least as new; and the other way round.
      const first = i % 2 === 0 ? 'pair:x' : 'pair:y';
      const second = i % 2 === 0 ? 'pair:y' : 'pair:x';
      const a = map.getEntry(first);
      const b = map.getEntry(second);
      if (a !== undefined && (b === undefined || b.modRevision < a.modRevision)) tally.bad.push([a, b]);
      else if (a !== undefined && b.modRevision === a.modRevision && b.value !== a.value) tally.bad.push([a, b]);
      tally.audits++;
    } else if (role === 'rev-writer') {
      // Single-key writes of every kind, each writer on 4 keys of its own.
      const key = `r:${(index & 1) * 4 + Math.floor(next() * 4)}`;
      const p = next();
      // Held at a random step of a third of its writes, for a while, as if
      // descheduled there: between publishing and numbering, for one.
      const held = next() < 0.3;
      if (held) map.__hold(1 + Math.floor(next() * 12), 1 << (8 + Math.floor(next() * 6)));
      if (p < 0.6) map.set(key, `${index}:${i}`);
      else if (p < 0.7) map.delete(key);
      else if (p < 0.8) map.swap(key, `${index}:${i}`);
      else if (p < 0.9) map.getOrSet(key, `${index}:${i}`);
      else map.update(key, () => `${index}:${i}`);
      if (held) map.__hold(0);
      tally.transfers++;
    } else if (role === 'rev-reader') {
      // Revisions number changes in the order they take effect: once this
      // thread has seen a change numbered M, every change numbered below M
      // had taken effect. So a key read at revision m after a read of it
      // (made once M was seen) that still showed an older one must have
      // m > M: else that change, numbered below M, became visible late.
      const key = `r:${Math.floor(next() * 8)}`;
      const e = map.getEntry(key);
      const last = seen.get(key);
      if (e === undefined) seen.delete(key);
      else {
        if (last !== undefined && e.modRevision > last.mod && e.modRevision < last.max) {
          tally.bad.push({ key, before: last, now: e.modRevision });
        }
        if (e.modRevision > max) max = e.modRevision;
        seen.set(key, { mod: e.modRevision, max });
      }
      tally.audits++;
    } else if (role === 'update') {
      // Read-modify-write of one counter string by update(): every success
      // adds exactly one.
      try {
        map.update(`u:${i % 4}`, (v) => String(Number(v ?? '0') + 1));
        tally.updates++;
      } catch (e) {
        if (e.code !== 'ERR_CONFLICT') throw e;
        tally.conflicts++;
      }
    } else {
      const sums = audit(map, accounts);
      if (sums !== undefined) {
        tally.audits++;
        if (sums.acct !== accounts * 100 || sums.ctr !== 0) tally.bad.push(sums);
      }
    }
    if (progress) Atomics.store(progress, index, i + 1);
  }
  map.close();
  parentPort.postMessage({ result: tally });
}
