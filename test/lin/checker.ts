// A linearizability checker for histories of map operations: the Wing–Gong
// search with Lowe's memoization, as Porcupine does it, partitioned by key
// (operations on different keys commute, so each key's history is checked
// on its own).
//
// A history records, for every operation, when it was called and when it
// returned, on one clock every thread shares (a logical one: an atomic
// counter read before the call and after the return), and what it returned.
// It is linearizable if some total order of the operations respects real
// time (an operation that returned before another was called comes first)
// and, replayed one by one on a sequential map, gives every recorded result.

/** The value of one key in the sequential model; `exp`: absolute expiry. */
export type Cell = undefined | { kind: 's'; v: string; exp?: number } | { kind: 'n'; v: number; exp?: number };

/**
 * An operation and what it returned. `now` is the clock reading the
 * operation used (expiry is judged against it; absent: 0, nothing expires),
 * and `ttl` on a write gives the new entry the expiry now + ttl.
 */
export type Op = { now?: number } & (
  | { op: 'get'; out: Cell }
  | { op: 'set'; v: string; ttl?: number }
  | { op: 'delete'; out: boolean }
  | { op: 'getOrSet'; v: string; ttl?: number; out: Cell; loaded: boolean }
  | { op: 'getAndDelete'; out: Cell }
  | { op: 'swap'; v: string; ttl?: number; out: Cell }
  | { op: 'cas'; expected: string | number; v: string; ttl?: number; out: boolean }
  | { op: 'cad'; expected: string | number; out: boolean }
  | { op: 'increment'; delta: number; out: number | 'ERR_NOT_A_COUNTER' }
);

export interface Event {
  key: string;
  call: number;
  ret: number;
  thread: number;
  op: Op;
}

const same = (a: Cell, b: Cell) =>
  a === b || (a !== undefined && b !== undefined && a.kind === b.kind && a.v === b.v);

const matches = (c: Cell, expected: string | number) =>
  c !== undefined && (typeof expected === 'number' ? c.kind === 'n' && c.v === expected : c.kind === 's' && c.v === expected);

/** The cell as an operation at `now` sees it: absent once expired. */
const live = (c: Cell, now: number): Cell => (c !== undefined && c.exp !== undefined && c.exp <= now ? undefined : c);

/** Applies `o` to `state`: the next state if `o`'s recorded result fits, else null. */
export function step(stored: Cell, o: Op): { next: Cell } | null {
  const now = o.now ?? 0;
  const state = live(stored, now);
  const written = (v: string, ttl?: number): Cell => (ttl === undefined ? { kind: 's', v } : { kind: 's', v, exp: now + ttl });
  switch (o.op) {
    case 'get':
      return same(state, o.out) ? { next: stored } : null;
    case 'set':
      return { next: written(o.v, o.ttl) };
    case 'delete':
      return o.out === (state !== undefined) ? { next: state === undefined ? stored : undefined } : null;
    case 'getOrSet':
      if (state === undefined) return !o.loaded && same(o.out, { kind: 's', v: o.v }) ? { next: written(o.v, o.ttl) } : null;
      return o.loaded && same(o.out, state) ? { next: stored } : null;
    case 'getAndDelete':
      return same(o.out, state) ? { next: state === undefined ? stored : undefined } : null;
    case 'swap':
      return same(o.out, state) ? { next: written(o.v, o.ttl) } : null;
    case 'cas': {
      const hit = matches(state, o.expected);
      if (o.out !== hit) return null;
      return { next: hit ? written(o.v, o.ttl) : stored };
    }
    case 'cad': {
      const hit = matches(state, o.expected);
      if (o.out !== hit) return null;
      return { next: hit ? undefined : stored };
    }
    case 'increment': {
      if (state !== undefined && state.kind !== 'n') return o.out === 'ERR_NOT_A_COUNTER' ? { next: stored } : null;
      const v = (state?.v ?? 0) + o.delta;
      if (o.out !== v) return null;
      // In place: a live counter keeps its expiry; a new one has none.
      return { next: state === undefined ? { kind: 'n', v } : { ...state, v } };
    }
  }
}

interface Node {
  call: boolean;
  id: number;
  match: Node | null; // a call's return node
  prev: Node | null;
  next: Node | null;
}

/**
 * Whether one key's events are linearizable from `initial` (Porcupine's
 * search). With `evictable`, the map may also drop the key at any point
 * (eviction): before each operation the search also tries the key absent.
 *
 * Expiry: an operation judges an entry by the clock reading it took when
 * called (`now`), but takes effect later, and meanwhile any thread whose
 * clock has passed the entry's expiry may have removed it (an operation
 * that met it, or a write's sweep, which no history records). So an
 * operation may also find an entry gone that its own reading still saw
 * live, if the clock may have reached the expiry before it returned: if
 * no operation called after it returned read an earlier time than the
 * expiry (their readings bound the clock at that return from above).
 */
export function linearizable(
  events: Event[], initial: Cell = undefined, budget = 5_000_000, evictable = false,
): boolean | 'unknown' {
  const n = events.length;
  if (n === 0) return true;
  // Events on one list ordered by time; calls before returns at equal times.
  const points: { t: number; call: boolean; id: number }[] = [];
  events.forEach((e, id) => {
    points.push({ t: e.call, call: true, id }, { t: e.ret, call: false, id });
  });
  points.sort((a, b) => a.t - b.t || (a.call === b.call ? 0 : a.call ? -1 : 1));
  const head: Node = { call: false, id: -1, match: null, prev: null, next: null };
  const calls: Node[] = new Array(n);
  let last = head;
  const rets: Node[] = new Array(n);
  for (const p of points) {
    const node: Node = { call: p.call, id: p.id, match: null, prev: last, next: null };
    last.next = node;
    last = node;
    if (p.call) calls[p.id] = node;
    else rets[p.id] = node;
  }
  for (let i = 0; i < n; i++) calls[i].match = rets[i];
  // The clock at each return is at most the earliest reading of any
  // operation called after it (Infinity if none).
  const clockAtMost = new Float64Array(n).fill(Infinity);
  {
    let earliest = Infinity; // over the calls seen so far, walking back in time
    for (let k = points.length - 1; k >= 0; k--) {
      const p = points[k];
      if (p.call) earliest = Math.min(earliest, events[p.id].op.now ?? 0);
      else clockAtMost[p.id] = earliest;
    }
  }

  const lift = (c: Node) => {
    c.prev!.next = c.next;
    if (c.next) c.next.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node) => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    if (c.next) c.next.prev = c;
  };

  const done = new Uint8Array(n);
  let doneKey = 0n;
  const cache = new Set<string>();
  const stack: { node: Node; state: Cell }[] = [];
  let state = initial;
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > budget) return 'unknown';
    if (entry === null) return false; // cannot happen: a return always ends the list
    if (entry.call) {
      let r = step(state, events[entry.id].op);
      if (r === null && state?.exp !== undefined && state.exp <= clockAtMost[entry.id]) {
        r = step(undefined, events[entry.id].op); // gone: expired and removed by another thread
      }
      if (r === null && evictable && state !== undefined) r = step(undefined, events[entry.id].op);
      if (r !== null) {
        const key = `${doneKey | (1n << BigInt(entry.id))}|${JSON.stringify(r.next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          state = r.next;
          done[entry.id] = 1;
          doneKey |= 1n << BigInt(entry.id);
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // A return: some operation called before it must come next, and none fit.
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      done[top.node.id] = 0;
      doneKey &= ~(1n << BigInt(top.node.id));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return true;
}

/** Checks a whole history, key by key. Returns the keys that failed. */
export function checkHistory(events: Event[], evictable = false): { failed: string[]; unknown: string[]; keys: number } {
  const byKey = new Map<string, Event[]>();
  for (const e of events) {
    let list = byKey.get(e.key);
    if (!list) byKey.set(e.key, (list = []));
    list.push(e);
  }
  const failed: string[] = [];
  const unknown: string[] = [];
  for (const [key, list] of byKey) {
    const r = linearizable(list, undefined, 5_000_000, evictable);
    if (r === false) failed.push(key);
    else if (r === 'unknown') unknown.push(key);
  }
  return { failed, unknown, keys: byKey.size };
}
