// A linearizability checker for histories of atomic() commits, getEntry and
// revision reads, across keys.
//
// Every commit that took effect returned its revision, and the map numbers
// changes in the order they take effect (assembly/rev.ts). So the order of
// the writes is known: the commits sorted by revision. What is left to find
// is whether each operation's linearization point (lp) can be placed inside
// its call..return interval, commits' lps increasing with their revisions,
// such that every read sees the state its lp falls in. With the write order
// fixed, every constraint is a bound on one commit's lp:
//   - a commit's lp lies in its own interval;
//   - a getEntry that returned revision m of key k: lp(m) <= its return, and
//     lp(next change of k after m) >= its call;
//   - a revision read of R: lp(last commit numbered <= R) <= its return, and
//     lp(first commit numbered > R) >= its call;
// plus lp increasing along the revisions. Bounds on a chain are feasible iff,
// after pushing lower bounds forward and upper bounds back, none crosses: an
// exact test. Reads of an absent key and commits whose check failed can be
// placed in one of several periods; they are checked last, against the
// bounds found (a necessary condition).
//
// Replaying the commits in revision order on a sequential model also checks
// what each returned: its checks held (ok: true), every getEntry's value,
// createRevision and version are those of the state it names.

export type Write = { kind: 'set'; v: string } | { kind: 'delete' } | { kind: 'increment'; delta: number };

export type RevOp =
  | { op: 'commit'; checks: [string, number][]; writes: [string, Write][]; out: { ok: true; revision: number } | { ok: false } }
  | { op: 'getEntry'; key: string; out: undefined | { value: string | number; modRevision: number; createRevision: number; version: number } }
  | { op: 'revision'; out: number };

export interface RevEvent {
  call: number;
  ret: number;
  thread: number;
  op: RevOp;
}

type State = { value: string | number; mod: number; create: number; version: number } | undefined;

/** Why a history is not linearizable, or undefined if it is. */
export function checkRevisions(events: RevEvent[]): string | undefined {
  const commits = events.filter((e) => e.op.op === 'commit' && e.op.out.ok) as (RevEvent & {
    op: Extract<RevOp, { op: 'commit' }> & { out: { ok: true; revision: number } };
  })[];
  commits.sort((a, b) => a.op.out.revision - b.op.out.revision);
  const n = commits.length;
  const rev = commits.map((c) => c.op.out.revision);
  for (let i = 1; i < n; i++) if (rev[i] === rev[i - 1]) return `two commits numbered ${rev[i]}`;
  const lo = commits.map((c) => c.call);
  const hi = commits.map((c) => c.ret);

  // Replay: each key's states, with the index of the commit that made each.
  const history = new Map<string, { at: number; state: State }[]>();
  const states = (k: string) => {
    let h = history.get(k);
    if (h === undefined) history.set(k, (h = [{ at: -1, state: undefined }]));
    return h;
  };
  for (let i = 0; i < n; i++) {
    const { checks, writes } = commits[i].op;
    for (const [k, want] of checks) {
      const h = states(k);
      const s = h[h.length - 1].state;
      if ((s?.mod ?? 0) !== want) return `commit ${rev[i]} checked ${k} at ${want}, but it was at ${s?.mod ?? 0}`;
    }
    for (const [k, w] of writes) {
      const h = states(k);
      const s = h[h.length - 1].state;
      let next: State;
      if (w.kind === 'delete') {
        if (s === undefined) continue; // nothing to delete: no change of k
        next = undefined;
      } else {
        const value = w.kind === 'set' ? w.v : (typeof s?.value === 'number' ? s.value : 0) + w.delta;
        next = { value, mod: rev[i], create: s === undefined ? rev[i] : s.create, version: s === undefined ? 1 : s.version + 1 };
      }
      h.push({ at: i, state: next });
    }
  }

  // Bounds from the reads that name a revision.
  const later: (() => string | undefined)[] = [];
  for (const e of events) {
    const o = e.op;
    if (o.op === 'revision') {
      // The last commit numbered <= R, and the first above it.
      let l = 0;
      let r = n;
      while (l < r) {
        const m = (l + r) >> 1;
        if (rev[m] <= o.out) l = m + 1;
        else r = m;
      }
      const a = l - 1;
      const b = l;
      if (a >= 0) hi[a] = Math.min(hi[a], e.ret);
      if (b < n) lo[b] = Math.max(lo[b], e.call);
    } else if (o.op === 'getEntry') {
      const h = states(o.key);
      if (o.out === undefined) {
        later.push(() => {
          // Some absent period of the key overlaps the read.
          for (let j = 0; j < h.length; j++) {
            if (h[j].state !== undefined) continue;
            const from = h[j].at < 0 ? -Infinity : lo[h[j].at];
            const to = j + 1 < h.length ? hi[h[j + 1].at] : Infinity;
            if (from <= e.ret && to >= e.call) return undefined;
          }
          return `getEntry(${o.key}) at ${e.call}..${e.ret} found it absent, which it never was then`;
        });
        continue;
      }
      const j = h.findIndex((x) => x.state?.mod === o.out!.modRevision);
      if (j < 0) return `getEntry(${o.key}) returned revision ${o.out.modRevision}, which no commit gave it`;
      const s = h[j].state!;
      if (s.value !== o.out.value || s.create !== o.out.createRevision || s.version !== o.out.version) {
        return `getEntry(${o.key}) at revision ${s.mod} returned ${JSON.stringify(o.out)}, not ${JSON.stringify(s)}`;
      }
      hi[h[j].at] = Math.min(hi[h[j].at], e.ret);
      if (j + 1 < h.length) lo[h[j + 1].at] = Math.max(lo[h[j + 1].at], e.call);
    } else if (!o.out.ok) {
      later.push(() => {
        // Some check may have failed: its key was at another revision at
        // some instant of the commit's interval.
        for (const [k, want] of o.checks) {
          const h = states(k);
          let surely = false;
          for (let j = 0; j < h.length && !surely; j++) {
            if ((h[j].state?.mod ?? 0) !== want) continue;
            // Held throughout the interval only if it surely began before
            // the call and surely ended after the return.
            const began = h[j].at < 0 ? -Infinity : hi[h[j].at];
            const ended = j + 1 < h.length ? lo[h[j + 1].at] : Infinity;
            if (began <= e.call && ended >= e.ret) surely = true;
          }
          if (!surely) return undefined;
        }
        return `a commit at ${e.call}..${e.ret} failed its checks, which all held throughout`;
      });
    }
  }
  // Along the chain: lp(i) >= lp(i - 1), lp(i) <= lp(i + 1).
  for (let i = 1; i < n; i++) lo[i] = Math.max(lo[i], lo[i - 1]);
  for (let i = n - 2; i >= 0; i--) hi[i] = Math.min(hi[i], hi[i + 1]);
  for (let i = 0; i < n; i++) {
    if (lo[i] > hi[i]) return `commit ${rev[i]} cannot take effect inside ${commits[i].call}..${commits[i].ret} and after what came before it`;
  }
  for (const check of later) {
    const why = check();
    if (why !== undefined) return why;
  }
  return undefined;
}
