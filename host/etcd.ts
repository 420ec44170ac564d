// wasmap/etcd: a prefix of etcd mirrored into a wasmap map, readable by
// every thread of the process at memory speed.
//
// One thread (the one that calls `create`) reads the prefix (a range read
// at revision R), then watches it from R + 1 (the etcd3 client) and applies
// each watch response's events in one atomic commit of the map, with the
// revision they bring the mirror to: an etcd transaction's writes appear
// together, and a thread that reads `revision` sees every change up to it.
// If the watch is canceled (etcd compacted the revisions it still needed),
// fails, or loses its stream, the mirror resynchronises: a fresh
// range read is written into the other of two namespaces, which then becomes
// current in one write; readers see the old state whole until then, the new
// one whole after, never a gap.
//
// Layout: namespace `<name>` holds `cur` (which of `<name>.0` and
// `<name>.1` is current); each of those holds `r` (its revision) and `d<key>`
// for each key of the prefix (keys whole, prefix included).
import { type Etcd3, type IOptions, type Watcher } from 'etcd3';
import type { MapView } from './base-map.js';
import { ATOMIC_MAX_BYTES, ATOMIC_MAX_KEYS } from './atomic.js';
import { MapError } from './errors.js';
import { SharedMap, type SharedMapHandle } from './shared-map.js';

export interface EtcdMirrorOptions {
  /** The etcd3 client's options (`hosts`: '127.0.0.1:2379'). */
  etcd: IOptions;
  /** The key prefix to mirror ('' for every key). */
  prefix: string;
  /** The map to mirror into. @default a new 64 MiB SharedMap */
  map?: SharedMap;
  /** @default 'etcd' */
  namespace?: string;
}

export interface EtcdMirrorHandle {
  map: SharedMapHandle;
  namespace: string;
  prefix: string;
}

export interface EtcdMirrorStats {
  /** Watch responses applied, and the events in them. */
  responses: number;
  events: number;
  /** Full reads after a canceled, failed or lost watch (the first read is not counted). */
  resyncs: number;
}

type Ns = MapView<SharedMap>;

export class EtcdMirror {
  private watcher: Watcher | null = null;
  private closed = false;
  private syncing: Promise<void> | null = null;
  private readonly counts: EtcdMirrorStats = { responses: 0, events: 0, resyncs: 0 };

  private constructor(
    private readonly map: SharedMap,
    private readonly ctl: Ns,
    private readonly sides: [Ns, Ns],
    private readonly name: string,
    readonly prefix: string,
    private readonly client: Etcd3 | null,
    private readonly ownsMap: boolean,
  ) {}

  /** Mirrors `prefix`: resolves once the first full read is in the map and the watch runs. */
  static async create(options: EtcdMirrorOptions): Promise<EtcdMirror> {
    if (typeof options?.prefix !== 'string') throw new MapError('ERR_INVALID_OPTION', 'option "prefix" must be a string');
    const { Etcd3 } = await import('etcd3');
    const map = options.map ?? await SharedMap.create({ maxMemoryBytes: 64 << 20 });
    const name = options.namespace ?? 'etcd';
    const mirror = new EtcdMirror(
      map, map.namespace(name), [map.namespace(`${name}.0`), map.namespace(`${name}.1`)], name, options.prefix,
      new Etcd3(options.etcd), options.map === undefined,
    );
    await mirror.resync(false);
    return mirror;
  }

  /** The mirror in another thread (read-only), from `mirror.handle`. */
  static async attach(handle: EtcdMirrorHandle): Promise<EtcdMirror> {
    const map = await SharedMap.attach(handle.map);
    const n = handle.namespace;
    return new EtcdMirror(map, map.namespace(n), [map.namespace(`${n}.0`), map.namespace(`${n}.1`)], n, handle.prefix, null, true);
  }

  get handle(): EtcdMirrorHandle {
    return { map: this.map.handle, namespace: this.name, prefix: this.prefix };
  }

  private current(): Ns {
    return this.sides[this.ctl.get('cur') === '1' ? 1 : 0];
  }

  /** The etcd revision the mirror reflects: every change up to it, none after. */
  get revision(): number {
    for (;;) {
      const side = this.current();
      const r = side.get('r');
      if (this.current() === side) return Number(r ?? 0);
    }
  }

  /** The value of `key` (the whole key, prefix included) as of `revision`. */
  get(key: string): string | undefined {
    for (;;) {
      // Read from the side that was current before and after: a side being
      // rebuilt by a second resync is never read.
      const side = this.current();
      const v = side.get(`d${key}`) as string | undefined;
      if (this.current() === side) return v;
    }
  }

  /** Every [key, value] at one revision, and that revision. */
  read(): { revision: number; entries: [string, string][] } {
    for (;;) {
      const side = this.current();
      const revision = Number(side.get('r') ?? 0);
      const entries: [string, string][] = [];
      for (const [k, v] of side.entries()) if (typeof k === 'string' && k.startsWith('d')) entries.push([k.slice(1), v as string]);
      // The same side at the same revision throughout: one state.
      if (this.current() === side && Number(side.get('r') ?? 0) === revision) return { revision, entries };
    }
  }

  stats(): EtcdMirrorStats {
    return { ...this.counts };
  }

  /** Resolves once the mirror reached `revision` (polling every `everyMs`). */
  async waitFor(revision: number, everyMs = 2): Promise<void> {
    while (this.revision < revision) await new Promise((r) => setTimeout(r, everyMs));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.cancel().catch(() => {});
    this.watcher = null;
    this.client?.close();
    if (this.ownsMap || this.client === null) this.map.close();
  }

  /** Reads the prefix whole into the side not in use, makes it current, then watches from there. */
  private async resync(counted: boolean): Promise<void> {
    if (this.syncing !== null) return this.syncing;
    this.syncing = (async () => {
      // Not awaited: a watch etcd canceled never confirms a cancel.
      this.watcher?.cancel().catch(() => {});
      this.watcher = null;
      if (counted) this.counts.resyncs++;
      const client = this.client!;
      const res = await client.getAll().prefix(this.prefix).exec();
      const revision = Number(res.header.revision);
      const next = this.ctl.get('cur') === '0' ? 1 : 0;
      const side = this.sides[next];
      side.clear();
      for (const kv of res.kvs) side.set(`d${kv.key.toString()}`, kv.value.toString());
      side.set('r', String(revision));
      this.ctl.set('cur', String(next));
      if (this.closed) return;
      await this.watch(revision + 1);
    })().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async watch(from: number): Promise<void> {
    const w = this.client!.watch().prefix(this.prefix).startRevision(String(from)).watcher();
    this.watcher = w;
    // Compaction cancels the watch ("Watcher canceled"): read again. So does
    // a lost stream: the client would resume it itself, but from the
    // revision its last (re)connection reported, past events it may not
    // have delivered yet (etcd3 1.1 sets it on every 'connected').
    const lost = () => {
      if (this.watcher === w && !this.closed) void this.resync(true).catch(() => this.retry());
    };
    w.on('error', lost);
    w.on('disconnected', lost);
    w.on('data', (res) => {
      if (this.watcher !== w) return;
      // The revision reached: with events, the last one's (the header's may
      // run ahead of events still to come in a later response); without, the
      // header's only for a progress report. A created response's header
      // tells the store's revision, not what was delivered: after a
      // reconnect, events before it may still be replayed.
      const n = res.events.length;
      if (n === 0 && (res.created || res.canceled)) return;
      this.apply(res.events, Number(n > 0 ? res.events[n - 1].kv.mod_revision : res.header.revision));
    });
  }

  /** A failed resync (etcd unreachable): tried again until it works or the mirror is closed. */
  private retry(): void {
    if (this.closed) return;
    setTimeout(() => void this.resync(true).catch(() => this.retry()), 200);
  }

  private apply(events: { type: string; kv: { key: Buffer; value: Buffer; mod_revision: string } }[], revision: number): void {
    this.counts.responses++;
    this.counts.events += events.length;
    const side = this.current();
    const at = Number(side.get('r') ?? 0);
    if (revision <= at) return; // already in the mirror (read whole, or replayed)
    events = events.filter((e) => Number(e.kv.mod_revision) > at);
    // One commit per response (an etcd transaction's events arrive in one),
    // split only past what one commit carries; the revision goes last.
    const latest = new Map<string, { type: string; value: Buffer }>();
    for (const e of events) latest.set(`d${e.kv.key.toString()}`, { type: e.type, value: e.kv.value });
    let commit = side.atomic();
    let keys = 0;
    let bytes = 0;
    for (const [key, e] of latest) {
      const size = key.length * 3 + e.value.length + 64;
      if (keys > 0 && (keys + 2 > ATOMIC_MAX_KEYS || bytes + size > ATOMIC_MAX_BYTES / 2)) {
        if (!commit.commit().ok) throw new MapError('ERR_CONFLICT', 'the mirror was written by another thread');
        commit = side.atomic();
        keys = 0;
        bytes = 0;
      }
      if (e.type === 'Delete') commit.delete(key);
      else commit.set(key, e.value.toString());
      keys++;
      bytes += size;
    }
    commit.set('r', String(revision));
    if (!commit.commit().ok) throw new MapError('ERR_CONFLICT', 'the mirror was written by another thread');
  }
}
