// Stress roles, run by several threads at once on one map (stress.test.ts):
// each worker runs one, and so does the main thread.
import { check, makeValue, rng } from './common.mjs';

/** The value fillEvict writes at key `fe:${writer}:${i}`. */
export const evictValue = (writer, i, mixed) => 'v'.repeat(100 + 50 * ((mixed ? i : writer) % 3));

export const roles = (map) => ({
  /** Increments counters round-robin; reports its own tally. */
  counters({ keys, rounds }) {
    const tally = new Array(keys).fill(0);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < keys; k++) {
        map.increment(`count:${k}`);
        tally[k]++;
      }
    }
    return tally;
  },

  /** Overwrites shared keys with self-checking values and reads them back. */
  torn({ keys, ops, writer }) {
    const next = rng(writer + 1);
    let torn = 0;
    let reads = 0;
    for (let i = 0; i < ops; i++) {
      const k = `torn:${Math.floor(next() * keys)}`;
      if (next() < 0.5) {
        // Lengths vary, so a mix of two writes would be caught by length too.
        map.set(k, makeValue(writer, i, 10 + Math.floor(next() * 200)));
      } else {
        const v = map.get(k);
        if (v !== undefined) {
          reads++;
          if (!check(v)) torn++;
        }
      }
    }
    return { torn, reads };
  },

  /** Inserts its own keys (growing the table), deletes every third. */
  inserts({ count, writer }) {
    let live = 0;
    for (let i = 0; i < count; i++) {
      map.set(`own:${writer}:${i}`, `v${i}`);
      live++;
      if (i % 3 === 0 && map.delete(`own:${writer}:${i}`)) live--;
    }
    return { live };
  },

  /**
   * Own keys set and deleted while value sizes drift from 16 B to 64 KiB and
   * back (memory moves between sizes); a full map (ERR_CAPACITY) is allowed.
   * With `ttl` (ms), every fourth set gives its entry 1..ttl ms to live, so
   * entries expire too. Reports the keys it left present, with the sequence
   * number of their value and whether it was set with a TTL (then it may
   * have expired).
   */
  drift({ keys, ops, writer, ttl = 0 }) {
    const next = rng(writer * 31 + 5);
    const present = new Map(); // key index -> [sequence number of its value, timed]
    let full = 0;
    for (let i = 0; i < ops; i++) {
      // The size cycles over 16 B .. 64 KiB (log scale), with some spread.
      const phase = (Math.sin((i / ops) * Math.PI * 4 + writer) + 1) / 2;
      const size = Math.floor(16 * 2 ** (phase * 12) * (0.5 + next()));
      const k = Math.floor(next() * keys);
      if (next() < 0.3) {
        if (map.delete(`drift:${writer}:${k}`)) present.delete(k);
        continue;
      }
      const timed = ttl > 0 && i % 4 === 0;
      try {
        map.set(`drift:${writer}:${k}`, makeValue(writer, i, size), timed ? { ttl: 1 + (i % ttl) } : undefined);
        present.set(k, [i, timed]);
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        full++;
        // Room for the others: this writer lets some of its keys go.
        for (const d of [...present.keys()].slice(0, 4)) {
          map.delete(`drift:${writer}:${d}`);
          present.delete(d);
        }
      }
    }
    return { present: [...present], full };
  },

  /**
   * Until `stop[0]` is set: increments counters `c:${i}` and adds 1 to the
   * number that starts the string values `s:${i}` by compareAndSwap, for i
   * in `kept`, at random. Reports its own tally per key (what it added).
   */
  movers({ kept, stop, writer }) {
    const next = rng(writer * 17 + 3);
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const added = new Map();
    let rounds = 0;
    // A full map refuses a write (ERR_CAPACITY) and changes nothing: it
    // is not counted.
    const tryWrite = (fn) => {
      try {
        return fn();
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        return false;
      }
    };
    while (Atomics.load(stop, 0) === 0 || rounds < 1_000) {
      rounds++;
      // A quarter of the entries: the others stay put, so that free memory
      // stays in pieces between them, which only moves join.
      const i = kept[Math.floor(next() * (kept.length >> 2))];
      const key = i % 2 === 0 ? `c:${i}` : `s:${i}`;
      let done = false;
      if (i % 2 === 0) done = tryWrite(() => map.increment(key) !== undefined);
      else {
        for (;;) {
          const cur = map.get(key);
          const n = Number(cur.slice(0, cur.indexOf(':')));
          const r = tryWrite(() => map.compareAndSwap(key, cur, `${n + 1}:${cur.slice(cur.indexOf(':') + 1)}`));
          if (r === false && map.get(key) !== cur) continue; // lost to the other writer
          done = r;
          break;
        }
      }
      if (done) added.set(key, (added.get(key) ?? 0) + 1);
      // Paced: every write (an increment too) takes a new block and frees
      // the old one, and writers at full speed free memory as fast as the
      // main thread fills it, which then needs to move nothing.
      Atomics.wait(pause, 0, 0, 0.05);
    }
    return [...added];
  },

  /** Increments one number with compareAndSwap retries; counts successes. */
  cas({ rounds }) {
    let wins = 0;
    for (let r = 0; r < rounds; r++) {
      for (;;) {
        const cur = map.get('cas');
        const next = String(Number(cur) + 1);
        if (map.compareAndSwap('cas', cur, next)) {
          wins++;
          break;
        }
      }
    }
    return wins;
  },

  /** Races getOrSet on fresh keys: every thread must see the same winner. */
  getOrSet({ keys, writer }) {
    const seen = [];
    let stored = 0;
    for (let k = 0; k < keys; k++) {
      const r = map.getOrSet(`gos:${k}`, `w${writer}`);
      if (!r.loaded) stored++;
      seen.push(r.value);
    }
    return { seen, stored };
  },

  /** Races getAndDelete on prefilled keys: each value goes to one thread. */
  getAndDelete({ keys }) {
    const got = [];
    for (let k = 0; k < keys; k++) {
      const v = map.getAndDelete(`gad:${k}`);
      if (v !== undefined) got.push(v);
    }
    return got;
  },

  /**
   * Inserts into a namespace with an entry quota, deleting some of its own
   * keys now and then so the count crosses the quota again and again; counts
   * what it stored and every time it saw the namespace over its quota.
   */
  quota({ attempts, writer }) {
    const ns = map.namespace('quota', { maxEntries: 100 });
    let stored = 0;
    let refused = 0;
    let over = 0;
    const mine = [];
    for (let i = 0; i < attempts; i++) {
      try {
        ns.set(`k:${writer}:${i}`, 'v');
        mine.push(i);
        stored++;
      } catch (e) {
        if (e.code !== 'ERR_QUOTA') throw e;
        refused++;
        if (mine.length > 0 && ns.delete(`k:${writer}:${mine.shift()}`)) stored--;
      }
      if (ns.size > 100) over++;
    }
    return { stored, refused, over };
  },

  /**
   * Operations cut short by a trap at a random fault point, then recovered;
   * reports which ones returned (committed) and which trapped.
   */
  trap({ ops, writer }) {
    const next = rng(writer * 31 + 7);
    const committed = new Set(); // keys set by calls that returned
    const uncertain = new Set(); // keys a trapped call may or may not have set or deleted
    let incs = 0;
    let trappedIncs = 0;
    let traps = 0;
    for (let i = 0; i < ops; i++) {
      map.__injectFault(1 + Math.floor(next() * 40));
      const p = next();
      const pick = [...committed][Math.floor(next() * committed.size)];
      try {
        if (p < 0.6) {
          map.set(`tr:${writer}:${i}`, `v${i}`);
          committed.add(i);
        } else if (p < 0.8) {
          map.increment(`trc:${writer}`);
          incs++;
        } else if (pick !== undefined) {
          if (map.delete(`tr:${writer}:${pick}`)) committed.delete(pick);
        }
      } catch (e) {
        if (!(e instanceof WebAssembly.RuntimeError)) throw e;
        traps++;
        map.__recover();
        if (p < 0.6) uncertain.add(i);
        else if (p < 0.8) trappedIncs++;
        else if (pick !== undefined) {
          committed.delete(pick);
          uncertain.add(pick);
        }
      }
      map.__injectFault(0);
    }
    return { committed: [...committed], uncertain: [...uncertain], incs, trappedIncs, traps };
  },

  /** Writes its own keys until the map is full; returns how many it stored. */
  fill({ writer, value }) {
    let stored = 0;
    for (;;) {
      try {
        map.set(`fill:${writer}:${stored}`, value);
        stored++;
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        return stored;
      }
    }
  },

  /** Sets `count` new keys to values of `size` characters (string) or
   *  bytes, each read back; returns how many sets failed and how many reads
   *  were wrong. */
  bigValues({ count, size, bytes }) {
    let failed = 0;
    let wrong = 0;
    for (let i = 0; i < count; i++) {
      const value = bytes ? new Uint8Array(size).fill(i & 0xff) : String.fromCharCode(97 + (i % 26)).repeat(size);
      try {
        map.set(`big:${bytes ? 'b' : 's'}:${i}`, value);
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        failed++;
        continue;
      }
      const got = map.get(`big:${bytes ? 'b' : 's'}:${i}`);
      const same = bytes ? got instanceof Uint8Array && got.length === size && got[size - 1] === (i & 0xff) : got === value;
      if (!same) wrong++;
    }
    return { failed, wrong };
  },

  /** Reads key 'q' × keyBytes (and has() of an absent one as long) `rounds`
   *  times; returns how many reads gave a value of `valueLength`. */
  longKey({ keyBytes, valueLength, rounds }) {
    let right = 0;
    for (let i = 0; i < rounds; i++) {
      if (map.get('q'.repeat(keyBytes))?.length === valueLength) right++;
      if (map.has('z'.repeat(keyBytes))) right--;
    }
    return { right };
  },

  /** Works in its own namespace with keys every thread also uses elsewhere. */
  tenant({ count, writer }) {
    const ns = map.namespace(`tenant-${writer}`);
    let bad = 0;
    for (let i = 0; i < count; i++) {
      ns.set(`k${i % 100}`, `w${writer}:${i}`);
      ns.increment('ops');
      const v = ns.get(`k${(i * 7) % 100}`);
      if (v !== undefined && !v.startsWith(`w${writer}:`)) bad++;
    }
    return { bad, size: ns.size };
  },

  /** Inserts its own new keys into a bounded map, reading some back. */
  evict({ count, writer }) {
    let hits = 0;
    for (let i = 0; i < count; i++) {
      map.set(`ev:${writer}:${i}`, `v${i}`);
      if (map.get(`ev:${writer}:${i >> 1}`) !== undefined) hits++;
    }
    return { inserted: count, hits };
  },

  /**
   * Inserts `count` new keys of its own into a map bounded by memory, with
   * values of one size per writer (100, 150 or 200 bytes: three size
   * classes), or of the three in turn with `mixed`; deletes one key in seven
   * and reads another writer's keys. Counts what it inserted and deleted,
   * and the inserts refused with ERR_CAPACITY.
   */
  fillEvict({ count, writer, writers, mixed }) {
    let inserted = 0;
    let deleted = 0;
    let refused = 0;
    for (let i = 0; i < count; i++) {
      try {
        map.set(`fe:${writer}:${i}`, evictValue(writer, i, mixed));
        inserted++;
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        refused++;
      }
      if (i % 7 === 0 && map.delete(`fe:${writer}:${i - 3}`)) deleted++;
      if (i % 3 === 0) map.get(`fe:${(writer + 1) % writers}:${i - 10}`);
    }
    return { inserted, deleted, refused };
  },

  /** A known number of each kind of operation, for exact statistics. */
  stats({ count, writer }) {
    for (let i = 0; i < count; i++) {
      map.set(`st:${writer}:${i}`, 'v'.repeat(i % 10)); // sets
      map.get(`st:${writer}:${i}`); // hits
      map.get(`st:${writer}:missing:${i}`); // misses
      map.compareAndSwap(`st:${writer}:${i}`, 'not it', 'x'); // casFailures
      if (i % 2 === 0) map.delete(`st:${writer}:${i}`); // deletes
      if (i % 5 === 0) map.increment(`st:count`); // sets, shared key
    }
    return count;
  },

  /** Mixed swap/increment/delete on a few keys, checking kinds stay sane. */
  mixed({ ops, writer }) {
    const next = rng(writer + 77);
    let bad = 0;
    let incs = 0;
    for (let i = 0; i < ops; i++) {
      const k = `mix:${Math.floor(next() * 4)}`;
      const p = next();
      try {
        if (p < 0.4) {
          map.increment(k);
          incs++;
        } else if (p < 0.6) {
          const old = map.swap(k, `s${writer}`);
          if (old !== undefined && typeof old !== 'number' && !/^s\d+$/.test(old)) bad++;
        } else if (p < 0.8) {
          map.delete(k);
        } else {
          const v = map.get(k);
          if (v !== undefined && typeof v !== 'number' && !/^s\d+$/.test(v)) bad++;
        }
      } catch (e) {
        if (e.code !== 'ERR_NOT_A_COUNTER') throw e;
      }
    }
    return { bad, incs };
  },
});
