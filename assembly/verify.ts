// Debug walk (tests): checks the invariants the overview states.

import { classSize, keptTable } from "./alloc";
import { hashKey, keyEquals } from "./keys";
import { root } from "./table";
import { revision } from "./rev";
import { E_CREATE, E_REV, E_VERSION, I_PREV, KIND_INTENT, REV_DELETED, REV_MASK, entryValue } from "./layout";
import {
  ANON_TOMB, DEFRAG, DEFRAG_BUCKETS, DEFRAG_BUCKET_COUNT, DEFRAG_RUN_HI, ENTRY_KEY, HEAP_START, H_MAX_KEY, H_TOP, KIND_COUNTER, KIND_STRING,
  KIND_TABLE, KIND_TOMB, MAX_NAMESPACES, NS_TAG_BYTES, NUM_CLASSES, N_ENTRIES, REGIONS, R_SIZE, SLOT_DEL, SLOT_FROZEN,
  SLOT_MOVED, SLOT_MOVED_EMPTY, TABLE_HEADER, blockKind, blockLink, entryBytes, entryKey, entryKeyLen, entryValueLen,
  freeHead, hdrLoad, nsRecord, sizeLoad, slotAddr, slotEntry, slotHash, slotLo, slotLoad, tableCap, tableChunks,
  tableNext, tableSlots,
} from "./layout";


function entryOk(e: usize, top: usize): bool {
  if (e < HEAP_START || e + ENTRY_KEY > top || (e & 7) != 0) return false;
  const kind = blockKind(e);
  if (kind < KIND_STRING || (kind > KIND_TOMB && kind != KIND_INTENT)) return false;
  const kl = <usize>entryKeyLen(e);
  if (kl < NS_TAG_BYTES + 1 || kl > NS_TAG_BYTES + <usize>hdrLoad(H_MAX_KEY)) return false;
  if (kind == KIND_COUNTER && entryValueLen(e) != 8) return false;
  return e + entryBytes(e) <= top;
}

/** Slot index where a probe for e's key from its home in table t stops (its
 *  own slot, if the chain is intact), or -1 if t has no slot for the key. */
function probeStop(t: usize, h: u32, e: usize): i64 {
  const cap = tableCap(t);
  const slots = tableSlots(t);
  let i = h & (cap - 1);
  for (let n: u32 = 0; n < cap; n++) {
    const w = slotLoad(slotAddr(slots, i));
    const lo = slotLo(w);
    if (w == 0 || lo == SLOT_FROZEN || lo == SLOT_MOVED_EMPTY) return -1;
    if (lo >= 8 && slotHash(w) == h && keyEquals(slotEntry(w), entryKey(e), <usize>entryKeyLen(e))) return <i64>i;
    i = (i + 1) & (cap - 1);
  }
  return -1;
}

function tableOk(t: usize, top: usize): bool {
  if (t < HEAP_START || t + TABLE_HEADER > top || blockKind(t) != KIND_TABLE) return false;
  const cap = tableCap(t);
  if (cap < 8 || (cap & (cap - 1)) != 0) return false;
  const slots = tableSlots(t);
  return slots >= HEAP_START && slots + (<usize>cap << 3) <= top && tableChunks(t) + 8 <= top;
}

export function verifyMap(): i32 {
  const top = <usize>hdrLoad(H_TOP);
  const r = root();
  if (!tableOk(r, top)) return 1; // the root is a table inside the heap
  const next = <usize>tableNext(r);
  if (next != 0 && !tableOk(next, top)) return 2;
  if (next != 0 && tableNext(next) != 0) return 3; // no migration starts before the last one ends
  let live: i64 = 0;
  let t = r;
  while (t != 0) {
    const cap = tableCap(t);
    const slots = tableSlots(t);
    for (let i: u32 = 0; i < cap; i++) {
      const w = slotLoad(slotAddr(slots, i));
      const lo = slotLo(w);
      if (w == 0 || lo == SLOT_MOVED || lo == SLOT_MOVED_EMPTY) continue;
      if (lo == SLOT_FROZEN) {
        if (t == next) return 4; // only the table being migrated has frozen slots
        continue;
      }
      if (lo < 8) return 5; // no other special words exist
      if ((lo & SLOT_FROZEN) != 0 && t == next) return 4;
      const e = slotEntry(w);
      // ANON_TOMB is only ever in a DELETED slot; a keyed tombstone is a
      // well-formed entry of its own key, like a live one.
      if (e == ANON_TOMB) {
        if ((lo & SLOT_DEL) == 0) return 9;
        continue;
      }
      if (!entryOk(e, top)) return 6; // every entry is a well-formed block in the heap
      if (blockKind(e) == KIND_TOMB) return 9;
      if (hashKey(entryKey(e), <usize>entryKeyLen(e)) != slotHash(w)) return 7; // the slot's hash is its key's
      if (probeStop(t, slotHash(w), e) != <i64>i) return 8; // a probe from home finds it: one slot per key
      // Revisions: numbered at most up to the map's, created no later than
      // changed, at least one version (0: not numbered yet, after a kill).
      const rw = atomic.load<u64>(e + E_REV);
      const mod = rw & REV_MASK;
      if (mod > revision() || load<u64>(e + E_CREATE) > (mod != 0 ? mod : revision())) return 17;
      if (load<u32>(e + E_VERSION) == 0) return 17;
      if ((rw & REV_DELETED) != 0 && (lo & (SLOT_DEL | SLOT_FROZEN)) == 0) return 17; // a numbered deletion is deleted
      if ((lo & SLOT_DEL) != 0) continue;
      // An atomic commit's intent is counted as the slot word it replaced
      // until it settles (commit.ts).
      if (blockKind(e) == KIND_INTENT) {
        const plo = <u32>load<u64>(entryValue(e) + I_PREV);
        if (plo < 8 || (plo & SLOT_DEL) != 0) continue;
      }
      // Live: counted once. A frozen slot's entry is counted here only if
      // its copy has not reached `next` yet (a helper stopped between
      // freezing and copying; the next helper finishes it).
      if (t == r && next != 0 && (lo & SLOT_FROZEN) != 0 && probeStop(next, slotHash(w), e) >= 0) continue;
      live++;
    }
    t = <usize>tableNext(t);
  }
  if (live != sizeLoad()) return 10; // size counts exactly the live entries
  let nsTotal: i64 = 0;
  for (let id: u32 = 0; id < MAX_NAMESPACES; id++) nsTotal += atomic.load<i64>(nsRecord(id) + N_ENTRIES);
  if (nsTotal != sizeLoad()) return 11; // namespace counts add up to the size
  for (let c = 0; c < NUM_CLASSES; c++) {
    const csize = classSize(c);
    let b = <usize>(<u32>atomic.load<u64>(freeHead(c)));
    let n: usize = 0;
    while (b != 0) {
      if (b < HEAP_START || b + csize > top || (b & 7) != 0) return 12; // free blocks lie in the heap
      if (++n > (top - HEAP_START) / csize) return 13; // and the list has no cycle
      b = <usize>blockLink(b);
    }
  }
  // No merge of free memory is left half done: no run being given back,
  // every bucket word clear (alloc.ts defragment).
  if (atomic.load<u32>(DEFRAG) != 0 || atomic.load<u32>(DEFRAG_RUN_HI) != 0) return 14;
  const words = <usize>atomic.load<u32>(DEFRAG_BUCKETS);
  const count = <usize>atomic.load<u32>(DEFRAG_BUCKET_COUNT);
  for (let k: usize = 0; k < count; k++) if (atomic.load<u32>(words + (k << 2)) != 0) return 15;
  let g = <usize>(<u32>atomic.load<u64>(REGIONS));
  let regions: usize = 0;
  while (g != 0) {
    const size = <usize>load<u32>(g + R_SIZE);
    if (g < HEAP_START || size < 16 || g + size > top || (g & 7) != 0) return 12; // regions too
    if (++regions > (top - HEAP_START) / 16) return 13;
    g = <usize>blockLink(g);
  }
  // Tables kept whole for a migration (alloc.ts keepTable) are tables in
  // the heap, none of them in use.
  for (let k: usize = 0; k < 2; k++) {
    const kept = keptTable(k);
    if (kept != 0 && (!tableOk(kept, top) || kept == r || kept == next)) return 16;
  }
  return 0;
}
