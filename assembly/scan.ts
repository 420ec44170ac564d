// Iteration: a cursor over home slots (see the Overview in index.ts).

import { resolveRead } from "./commit";
import { expiredAt } from "./expiry";
import { root } from "./table";
import { ST_SCAN_TOO_SMALL } from "./status";
import {
  ANON_TOMB, KIND_INTENT, KIND_TOMB, NS_TAG_BYTES, SLOT_DEL, SLOT_FROZEN, SLOT_MOVED_EMPTY, blockKind, entryKey, entryKeyLen, nsTagOf,
  slotAddr, slotEntry, slotHash, slotLo, slotLoad, tableCap, tableNext, tableSlots,
} from "./layout";
//
// scanKeys walks a namespace's keys a few home slots at a time, across any
// number of calls, with a cursor that stays meaningful while tables grow,
// shrink or migrate between calls: Redis's SCAN cursor. The cursor counts
// home slots in reversed bit order, so the homes visited under a small mask
// are exactly those whose low bits were visited under a larger one, and the
// other way round. A step visits one home v of the root table's mask m0: in
// every table of the chain (root, then the one it migrates to), each home b
// with b == v on the smaller of the two masks, walking b's run of slots (a
// key sits between its home and the first empty slot: slots never become
// empty again) and keeping the keys whose home is b and whose hash agrees
// with v on m0's bits. A key present from the first call to the last is
// returned at least once; one may come twice while its table migrates.

/** Output of scanKeys at `out`: next cursor, key count, whether done. */
export const SCAN_HEADER: usize = 16;
/** scanKeys status: one step's keys do not fit in an empty output. */
export { ST_SCAN_TOO_SMALL as SCAN_TOO_SMALL } from "./status";

@inline function reverseBits(v: u32): u32 {
  v = ((v >> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return (v >> 16) | (v << 16);
}

/**
 * Writes the live keys of namespace `tag` (tag bytes dropped) found in up to
 * `maxSteps` steps from `cursor` to `out` (ocap bytes): after SCAN_HEADER,
 * each as u32 length then its bytes, padded to 4. Stops before a step whose
 * keys would not fit. Returns 0, or SCAN_TOO_SMALL if not even one step fit.
 */
export function scanKeys(tag: u32, cursor: u32, out: usize, ocap: usize, maxSteps: i32): i32 {
  const r = root();
  const m0 = tableCap(r) - 1;
  let v = cursor;
  let at = out + SCAN_HEADER;
  const end = out + ocap;
  let count: u32 = 0;
  let done = false;
  for (let step = 0; step < maxSteps; step++) {
    const mark = at;
    const markCount = count;
    let fits = true;
    let t = r;
    while (t != 0 && fits) {
      const cap = tableCap(t);
      const mk = cap - 1;
      const low = mk < m0 ? mk : m0;
      const slots = tableSlots(t);
      for (let b = v & low; b < cap && fits; b += low + 1) {
        let i = b;
        for (let n: u32 = 0; n < cap; n++) {
          const w = slotLoad(slotAddr(slots, i));
          const lo = slotLo(w);
          if (lo < 8) {
            if (w == 0 || lo == SLOT_FROZEN || lo == SLOT_MOVED_EMPTY) break; // end of the run
          } else if ((lo & SLOT_DEL) == 0 && (slotHash(w) & mk) == b && ((slotHash(w) ^ v) & m0) == 0) {
            let e = slotEntry(w);
            // An atomic commit's intent: listed if its key holds an entry now.
            if (blockKind(e) == KIND_INTENT && resolveRead(e) == 0) e = ANON_TOMB;
            // Safety: e stays readable for this whole operation (epoch).
            if (blockKind(e) != KIND_TOMB && (blockKind(e) == KIND_INTENT || !expiredAt(e)) && nsTagOf(entryKey(e)) == tag) {
              const kl = <usize>entryKeyLen(e) - NS_TAG_BYTES;
              const next = at + 4 + ((kl + 3) & ~<usize>3);
              if (next > end) {
                fits = false;
                break;
              }
              store<u32>(at, <u32>kl);
              memory.copy(at + 4, entryKey(e) + NS_TAG_BYTES, kl);
              at = next;
              count++;
            }
          }
          i = (i + 1) & mk;
        }
      }
      t = <usize>tableNext(t);
    }
    if (!fits) {
      at = mark;
      count = markCount;
      if (step == 0) return ST_SCAN_TOO_SMALL;
      break;
    }
    // Next home in reversed bit order; back at 0: every home was visited.
    v = reverseBits(reverseBits(v | ~m0) + 1);
    if (v == 0) {
      done = true;
      break;
    }
  }
  store<u32>(out, v);
  store<u32>(out + 4, count);
  store<u32>(out + 8, done ? 1 : 0);
  return 0;
}
