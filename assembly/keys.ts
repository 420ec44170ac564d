// Keys: the hash of a key's bytes (seeded per map) and byte equality.

import { H_SEED, entryKey, entryKeyLen, hdrLoad } from "./layout";

/** The hash seed, copied from the header at attach (it never changes). */
let seed: u64 = 0;

export function loadSeed(): void {
  seed = <u64>hdrLoad(H_SEED) * 0x9e3779b97f4a7c15;
}

@inline function mix(h: u64): u64 {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  return h;
}

/** 32-bit hash of the key bytes at kp (the buffer has 8 bytes of slack). */
export function hashKey(kp: usize, kl: usize): u32 {
  let h = seed ^ (<u64>kl * 0x2545f4914f6cdd1d);
  let i: usize = 0;
  while (i + 8 <= kl) {
    h = (h ^ load<u64>(kp + i)) * 0xbf58476d1ce4e5b9;
    h ^= h >> 31;
    i += 8;
  }
  if (i < kl) {
    // Safety: key buffers (scratch, entry key areas) are padded to 8.
    const tail = load<u64>(kp + i) & ((<u64>1 << (<u64>(kl - i) << 3)) - 1);
    h = (h ^ tail) * 0xbf58476d1ce4e5b9;
  }
  h = mix(h);
  return <u32>(h ^ (h >> 32));
}

/** Equal bytes (both buffers padded to 8). */
export function bytesEqual(a: usize, b: usize, n: usize): bool {
  let i: usize = 0;
  while (i + 8 <= n) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  if (i < n) {
    const m = (<u64>1 << (<u64>(n - i) << 3)) - 1;
    if ((load<u64>(a + i) ^ load<u64>(b + i)) & m) return false;
  }
  return true;
}

@inline export function keyEquals(e: usize, kp: usize, kl: usize): bool {
  return <usize>entryKeyLen(e) == kl && bytesEqual(entryKey(e), kp, kl);
}
