// wasmap/redis: one near cache of a Redis (or Valkey) server for every
// thread of a process, in a wasmap map.
//
// Reads hit the map; a miss reads through (GET and PTTL in one MULTI) and
// fills the map. Writes go to Redis, then drop the near copy. Invalidations
// come from Redis's client tracking on ONE connection per process, the
// leader's (the thread that called `create`): in broadcast mode for key
// prefixes, or in default mode, where every thread's connection asks Redis
// to send the invalidations of the keys it read to the leader's connection
// (CLIENT TRACKING ON REDIRECT id).
//
// Nothing stale is served silently:
//
//   - A fill is one atomic commit of the map that checks two revisions: the
//     key's pending mark (set before the read was sent, deleted by any
//     invalidation of the key) and the generation (bumped by every flush).
//     An invalidation or a flush that lands while the read is in flight
//     makes the fill a no-op; one that comes after the fill deletes it.
//   - The leader marks the cache up (key `u`: its connection's id, a lease
//     it renews) only while its connection tracks; a leader whose thread
//     dies lets the mark expire, and the cache goes down within leaseMs. When the connection drops, the cache is
//     flushed (after `maxStaleMs`, if set: until then hits are served and
//     counted as stale serves), and misses read through without filling;
//     once the connection is back and tracking again, the generation is
//     bumped (anything filled before is gone) and the cache serves again.
//   - A FLUSHALL or FLUSHDB (an invalidation of every key) flushes it.
//
// Shared state, in a namespace of the map (default 'redis'): `u` the
// leader's client id while up, `s` the instant stale serving ends while
// down, `g` the generation (a counter), `d<key>` a cached value, `p<key>` a
// pending read's mark.
import { type RedisClientOptions, createClient } from 'redis';
import { MapError } from './errors.js';
import type { MapView } from './base-map.js';
import { SharedMap, type SharedMapHandle } from './shared-map.js';

type Client = ReturnType<typeof createClient>;

export interface NearCacheOptions {
  /** The server, as node-redis takes it (`redis://127.0.0.1:6379`). */
  url?: string;
  /** Other node-redis options for this thread's connection (RESP is set to 3). */
  client?: Omit<RedisClientOptions, 'url' | 'RESP'>;
  /**
   * Broadcast mode: the key prefixes whose writes invalidate ('' for every
   * key); keys outside them are read straight from Redis, never cached.
   * Without it, default mode: Redis tracks the keys each thread read.
   */
  prefixes?: string[];
  /** After the leader's connection drops, how long (ms) cached values are
   *  still served before the cache is flushed. @default 0 */
  maxStaleMs?: number;
  /** The map to keep the near copies in (a SharedMap). @default a new one of `maxMemoryBytes` */
  map?: SharedMap;
  /** The namespace of the map. @default 'redis' */
  namespace?: string;
  /** With no `map`: its size. @default 64 MiB */
  maxMemoryBytes?: number;
  /**
   * The leader renews its mark every leaseMs / 4; a leader that stops (its
   * thread killed) takes the cache down for the other threads once its mark
   * expires, at most this many ms later. @default 2000
   */
  leaseMs?: number;
}

/** What a worker needs to attach: pass `near.handle` in postMessage. */
export interface NearCacheHandle {
  map: SharedMapHandle;
  namespace: string;
  prefixes: string[] | null;
}

/** This thread's counts. */
export interface NearCacheStats {
  hits: number;
  misses: number;
  /** Misses whose value was kept. */
  fills: number;
  /** Hits served while the leader's connection was down (within maxStaleMs). */
  staleServes: number;
  /** Reads that went to Redis while the cache was down. */
  bypassed: number;
  /** Leader only: invalidation messages, flushes, lost connections. */
  invalidations: number;
  flushes: number;
  disconnects: number;
}

const PENDING_TTL = 60_000;

export class RedisNearCache {
  private readonly stats0: NearCacheStats = {
    hits: 0, misses: 0, fills: 0, staleServes: 0, bypassed: 0, invalidations: 0, flushes: 0, disconnects: 0,
  };
  private trackedFor: string | undefined;
  /** Bumped whenever this thread's connection drops or comes back: a read sent before must not fill. */
  private connection = 0;
  private staleTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Leader: its connection's id while the cache is up. */
  private upId: string | undefined;
  private leaseMs = 2000;
  private closed = false;
  private tokens = 0;

  private constructor(
    private readonly map: SharedMap,
    private readonly ns: MapView<SharedMap>,
    private readonly nsName: string,
    private readonly client: Client,
    private readonly prefixes: string[] | null,
    private readonly leader: boolean,
    private readonly ownsMap: boolean,
    private readonly maxStaleMs: number,
  ) {}

  /**
   * The process's near cache: this thread becomes its leader, whose
   * connection receives the invalidations. Other threads `attach` its
   * `handle`. Resolves once the connection tracks and the cache is up.
   */
  static async create(options: NearCacheOptions = {}): Promise<RedisNearCache> {
    const prefixes = checkPrefixes(options.prefixes);
    const maxStaleMs = options.maxStaleMs ?? 0;
    if (!(Number.isFinite(maxStaleMs) && maxStaleMs >= 0)) {
      throw new MapError('ERR_INVALID_OPTION', `option "maxStaleMs" must be a number of ms >= 0, got ${String(options.maxStaleMs)}`);
    }
    const map = options.map ?? await SharedMap.create({ maxMemoryBytes: options.maxMemoryBytes ?? 64 << 20 });
    const name = options.namespace ?? 'redis';
    const ns = map.namespace(name);
    ns.clear();
    const client = createClient({ ...options.client, url: options.url, RESP: 3, emitInvalidate: true });
    const leaseMs = options.leaseMs ?? 2000;
    if (!(Number.isFinite(leaseMs) && leaseMs >= 20)) {
      throw new MapError('ERR_INVALID_OPTION', `option "leaseMs" must be a number of ms >= 20, got ${String(options.leaseMs)}`);
    }
    const near = new RedisNearCache(map, ns, name, client, prefixes, true, options.map === undefined, maxStaleMs);
    near.leaseMs = leaseMs;
    client.on('invalidate', (key: unknown) => near.invalidated(key));
    client.on('error', () => near.down());
    client.on('end', () => near.down());
    await client.connect();
    await near.up();
    // Reconnected: tracking again (node-redis's handshake turned it on), then up.
    client.on('ready', () => { near.up().catch(() => near.down()); });
    near.heartbeat = setInterval(() => near.renew(), leaseMs / 4);
    (near.heartbeat as { unref?: () => void }).unref?.();
    return near;
  }

  /** This process's near cache, from `near.handle` of the leader's thread. */
  static async attach(handle: NearCacheHandle, options: Pick<NearCacheOptions, 'url' | 'client'> = {}): Promise<RedisNearCache> {
    const map = await SharedMap.attach(handle.map);
    const ns = map.namespace(handle.namespace);
    const client = createClient({ ...options.client, url: options.url, RESP: 3 });
    const near = new RedisNearCache(map, ns, handle.namespace, client, handle.prefixes, false, true, 0);
    // A new connection tracks nothing: default mode asks again before its next fill.
    client.on('error', () => near.reconnected());
    client.on('ready', () => near.reconnected());
    await client.connect();
    return near;
  }

  get handle(): NearCacheHandle {
    return { map: this.map.handle, namespace: this.nsName, prefixes: this.prefixes };
  }

  /** Whether the cache serves now (the leader's connection tracks). */
  get serving(): boolean {
    return this.ns.get('u') !== undefined;
  }

  /** This thread's connection (for commands of your own). */
  get redis(): Client {
    return this.client;
  }

  stats(): NearCacheStats {
    return { ...this.stats0 };
  }

  /** The value of `key` (a string key of a string value), or null if absent. */
  async get(key: string): Promise<string | null> {
    if (typeof key !== 'string' || key.length === 0) throw new MapError('ERR_INVALID_KEY', 'a near cache key is a non-empty string');
    const ns = this.ns;
    const cached = this.prefixes === null || this.prefixes.some((p) => key.startsWith(p));
    const leaderId = ns.get('u') as string | undefined;
    if (cached) {
      const v = ns.get(`d${key}`) as string | undefined;
      if (v !== undefined) {
        if (leaderId !== undefined) {
          this.stats0.hits++;
          return v;
        }
        const until = ns.get('s') as string | undefined;
        if (until !== undefined && Date.now() < Number(until)) {
          this.stats0.staleServes++;
          return v;
        }
      }
    }
    this.stats0.misses++;
    if (!cached || leaderId === undefined) {
      this.stats0.bypassed++;
      return this.client.get(key) as Promise<string | null>;
    }
    if (this.prefixes === null && this.trackedFor !== leaderId && !this.leader) {
      // Default mode: the keys this connection reads are tracked for the
      // leader's connection, whose id changes when it reconnects.
      try {
        await this.client.sendCommand(['CLIENT', 'TRACKING', 'ON', 'REDIRECT', leaderId]);
        this.trackedFor = leaderId;
      } catch {
        // The leader's connection went meanwhile (its id is gone): read through.
        this.stats0.bypassed++;
        return this.client.get(key) as Promise<string | null>;
      }
    }
    const connection = this.connection;
    const gen = ns.getEntry('g');
    const mark = `p${key}`;
    ns.set(mark, `${this.tokens++}`, { ttl: PENDING_TTL });
    const pending = ns.getEntry(mark);
    const [value, pttl] = await this.client.multi().get(key).pTTL(key).exec() as unknown as [string | null, number];
    if (gen === undefined || pending === undefined || connection !== this.connection) return value;
    const commit = ns.atomic().check('g', gen.modRevision).check(mark, pending.modRevision).delete(mark);
    if (value !== null && pttl !== -2) {
      commit.set(`d${key}`, value, pttl > 0 ? { ttl: pttl } : undefined);
    }
    try {
      if (commit.commit().ok && value !== null) this.stats0.fills++;
    } catch {
      // Not kept (a value over the map's maxValueBytes, a full map): the read still stands.
    }
    return value;
  }

  /** Sets `key` in Redis (`ttl` in ms: PX), then drops the near copy. */
  async set(key: string, value: string, options?: { ttl?: number }): Promise<void> {
    await this.client.set(key, value, options?.ttl !== undefined ? { expiration: { type: 'PX', value: options.ttl } } : undefined);
    this.drop(key);
  }

  /** Deletes `key` in Redis, then the near copy. Returns whether Redis had it. */
  async delete(key: string): Promise<boolean> {
    const n = await this.client.del(key);
    this.drop(key);
    return n > 0;
  }

  /** Detaches this thread (the leader's close stops the invalidations: the cache goes down for every thread). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.staleTimer);
    clearInterval(this.heartbeat);
    if (this.leader) {
      this.upId = undefined;
      this.ns.delete('u');
      this.flush();
    }
    await this.client.quit().catch(() => {});
    if (this.ownsMap || !this.leader) this.map.close();
  }

  private reconnected(): void {
    this.connection++;
    this.trackedFor = undefined;
  }

  /** Forgets the near copy of `key` (and any read of it in flight). */
  private drop(key: string): void {
    this.ns.atomic().delete(`p${key}`).delete(`d${key}`).commit();
  }

  private invalidated(key: unknown): void {
    this.stats0.invalidations++;
    if (key === null) {
      // FLUSHALL, FLUSHDB: down while the copies go (a large cache takes a
      // while), so that no thread serves one meanwhile.
      const id = this.upId;
      this.ns.delete('u');
      this.flush();
      if (id !== undefined && this.upId === id && !this.closed) this.ns.set('u', id, { ttl: this.leaseMs });
      return;
    }
    this.drop(typeof key === 'string' ? key : new TextDecoder().decode(key as Uint8Array));
  }

  /** Empties the cache: the generation first, so that no fill in flight lands after. */
  private flush(): void {
    this.stats0.flushes++;
    this.ns.increment('g');
    for (const k of [...this.ns.keys()]) {
      if (typeof k === 'string' && (k.startsWith('d') || k.startsWith('p'))) this.ns.delete(k);
    }
  }

  /** The leader's connection is tracking (again): a fresh generation, then up. */
  private async up(): Promise<void> {
    if (this.closed) return;
    const client = this.client;
    if (this.prefixes !== null) {
      const args = ['CLIENT', 'TRACKING', 'ON', 'BCAST'];
      for (const p of this.prefixes) args.push('PREFIX', p);
      await client.sendCommand(['CLIENT', 'TRACKING', 'OFF']);
      await client.sendCommand(args);
    }
    const id = String(await client.sendCommand(['CLIENT', 'ID']));
    if (this.closed || (this.upId === id && this.ns.get('u') === id)) return;
    clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
    this.flush();
    this.ns.delete('s');
    this.upId = id;
    this.ns.set('u', id, { ttl: this.leaseMs });
  }

  /** The leader's lease: renewed while up. If it lapsed (this thread was
   *  held up longer than leaseMs), the others stopped serving meanwhile and
   *  invalidations may wait unread: flush before serving again. */
  private renew(): void {
    const id = this.upId;
    if (this.closed || id === undefined) return;
    if (this.ns.get('u') !== id) this.flush();
    this.ns.set('u', id, { ttl: this.leaseMs });
  }

  private down(): void {
    if (this.closed || this.upId === undefined) return;
    this.upId = undefined;
    this.stats0.disconnects++;
    if (this.maxStaleMs === 0) {
      this.ns.delete('u');
      this.flush();
      return;
    }
    this.ns.set('s', String(Date.now() + this.maxStaleMs));
    this.ns.delete('u');
    this.staleTimer = setTimeout(() => {
      if (this.ns.get('u') === undefined) this.flush();
      this.ns.delete('s');
    }, this.maxStaleMs);
  }
}

function checkPrefixes(prefixes: unknown): string[] | null {
  if (prefixes === undefined) return null;
  if (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === 'string')) {
    throw new MapError('ERR_INVALID_OPTION', 'option "prefixes" must be an array of strings');
  }
  return prefixes.length === 0 ? [''] : [...prefixes];
}
