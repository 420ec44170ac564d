// A hostile plugin component: the guest test/guests/hostile.ts (built into
// build/plugins/hostile.wasm by npm run build) tries, through the key-value
// interface only, every way out of its namespace and of its policy's buckets
// (see its header for the list), and reports whatever it read that it did not
// write. The host's data around it (root keys, another namespace, another
// plugin instance's namespace, its own namespace's entries outside its
// buckets) must stay out of its reach and unchanged; its errors must come
// back as the interface's error variants; what the canonical ABI answers
// with a trap must kill that instance only.
// The JS-level counterpart is namespaces.test.ts, "hostile tenant".
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { type KeyValuePolicy, PluginComponent, bucketKey, keyValueImports, loadComponent, openResources } from '../dist/wasi.js';
import { createMap, shared } from './helpers.js';

const plugin = (name: string) => new URL(`../build/plugins/${name}.wasm`, import.meta.url);

let hostile: PluginComponent;
let probe: PluginComponent;
beforeAll(async () => {
  hostile = await loadComponent(plugin('hostile'), { name: 'hostile' });
  probe = await loadComponent(plugin('probe'), { name: 'probe' });
});

let map: SharedMap;
afterEach(() => map?.close());

/** Distinctive values the host plants; none may ever reach the guest. */
const SECRETS = [
  'S3CRET-root', 'S3CRET-root-bucket', 'S3CRET-root-ttl', 'S3CRET-other', 'S3CRET-other-bucket', 'S3CRET-b-guest',
  'S3CRET-b-host', 'S3CRET-admin', 'S3CRET-host-note', 'S3CRET-ff-bucket', 'S3CRET-empty-bucket', 'host-note',
];

const POLICY: KeyValuePolicy = { buckets: ['default', 'cache'], maxOpenResources: 64, maxBatchKeys: 100 };
/** The hostile instance's namespace: bounded, so that filling it reaches a quota. */
const QUOTA = { maxEntries: 4000, maxMemoryBytes: 4 << 20 };

const hex = (x: unknown) => (typeof x === 'string' ? `s:${x}` : x instanceof Uint8Array ? `b:${Buffer.from(x).toString('hex')}` : `${typeof x}:${String(x)}`);

/** Every entry of a map or view, byte for byte, with its kind of expiry. */
function dump(m: SharedMap, keep: (key: unknown) => boolean = () => true): string[] {
  return [...m.entries()].filter(([k]) => keep(k)).map(([k, v]) => {
    const ttl = m.ttl(k as never);
    // Planted lifetimes are an hour: to the nearest 10 minutes, a change shows.
    const life = ttl === undefined ? 'gone' : ttl === Infinity ? 'forever' : `~${Math.round(ttl / 600_000)}0min`;
    return `${hex(k)} = ${hex(v)} (${life})`;
  }).sort();
}

const prefixes = POLICY.buckets!.map((b) => bucketKey(b, ''));
/** Whether a stored key is under one of the hostile policy's bucket prefixes (where it may write). */
const inItsBuckets = (k: unknown) =>
  k instanceof Uint8Array && prefixes.some((p) => p.length <= k.length && p.every((byte, i) => k[i] === byte));

type Run = (input: string) => string;

/** What a run of the guest found (and whether it got to the end). */
function findings(output: string): string[] {
  const lines = output.split('\n');
  const found = lines.filter((l) => l.startsWith('found\t'));
  if (!/^done\t\d+\t\d+$/.test(lines.at(-1)!)) found.push(`ended with ${lines.at(-1)}`);
  return found;
}

/** A fresh probe instance over `ns` with bucket 1 = "default" open. */
function probeOver(ns: SharedMap): (...commands: string[][]) => string[] {
  const exports = probe.instantiate(keyValueImports(ns)) as { handle(input: string): string };
  const run = (...commands: string[][]) => exports.handle(commands.map((c) => c.join('\t')).join('\n')).split('\n');
  expect(run(['open', 'default'])).toEqual(['ok\t1']);
  return run;
}

/** The world around the hostile instance, planted with SECRETS. */
async function plant() {
  map = await createMap();
  map.set('rootkey', 'S3CRET-root');
  map.set(bucketKey('default', 'k'), 'S3CRET-root-bucket'); // a root key that is a bucket key
  map.set('ttl-root', 'S3CRET-root-ttl', { ttl: 3_600_000 });
  map.increment('counter', 41);
  const other = map.namespace('other-ns');
  other.set('token', 'S3CRET-other');
  other.set(bucketKey('default', 'k'), 'S3CRET-other-bucket');
  other.increment(bucketKey('default', 'n'), 7);
  const b = map.namespace('plugin-b');
  const runB = probeOver(b);
  expect(runB(['set', '1', 'k', 'S3CRET-b-guest'], ['incr', '1', 'n', '5'], ['set-ttl', '1', 't', 'S3CRET-b-guest', '3600000']))
    .toEqual(['ok', 'ok\t5', 'ok']);
  b.set(bucketKey('default', 'host-for-b'), 'S3CRET-b-host');
  const a = map.namespace('plugin-a', QUOTA);
  // In its own namespace, but outside its buckets: a bucket its policy does
  // not name, a bucket whose id extends its own, the empty id, a plain key.
  a.set(bucketKey('admin', 'k'), 'S3CRET-admin');
  a.set(bucketKey('default\u00ff', 'k'), 'S3CRET-ff-bucket');
  a.set(bucketKey('', 'k'), 'S3CRET-empty-bucket');
  a.set('host-note', 'S3CRET-host-note');
  const snapshot = () => JSON.stringify({
    root: dump(map), other: dump(other), b: dump(b), a: dump(a, (k) => !inItsBuckets(k)),
    sizes: [map.size, other.size, b.size],
  });
  const tags = [map, other, b, a].map((m) => (m as { handle?: SharedMap["handle"] }).handle?.namespace?.tag ?? 0);
  const input = (mode: string) => [
    `mode\t${mode}`,
    ...POLICY.buckets!.map((x) => `bucket\t${x}`),
    // Names an attacker may know or guess (never the values).
    ...['rootkey', 'counter', 'ttl-root', 'default', 'cache', 'admin', 'k', 'n', 'token', 'other-ns', 'plugin-b', 'plugin-a']
      .map((w) => `word\t${w}`),
    ...[...tags, 1, 2, 1023].map((t) => `tag\t${t}`),
  ].join('\n');
  return { other, b, a, runB, snapshot, input };
}

/** A hostile instance over `a`. */
function hostileOver(a: SharedMap): { run: Run; imports: ReturnType<typeof keyValueImports> } {
  const imports = keyValueImports(a, POLICY);
  const exports = hostile.instantiate(imports) as { handle: Run };
  return { run: exports.handle, imports };
}

describe('hostile plugin', () => {
  test('a plugin trying every way out through the key-value interface reads nothing of the host\'s, and the owner sees no change', async () => {
    const { a, runB, snapshot, input } = await plant();
    const before = snapshot();
    const { run, imports } = hostileOver(a);

    const output = run(input('attack'));
    const lines = output.split('\n');
    const done = lines.at(-1)!.split('\t');

    expect(lines.filter((l) => l.startsWith('found\t'))).toEqual([]);
    expect(done[0]).toBe('done');
    expect(done[1]).toBe('0');
    expect(Number(done[2])).toBeGreaterThan(50_000); // calls made
    expect(lines).not.toContain('truncated');
    // Nothing of the host's, not even in an error message.
    for (const secret of SECRETS) expect(output.includes(secret), secret).toBe(false);
    // Every refusal was one of the interface's errors with a wasmap code (or
    // access-denied): none was an internal failure of the host.
    const errors = lines.filter((l) => l.startsWith('err\t')).map((l) => l.split('\t')[3]);
    expect(errors.length).toBeGreaterThan(100);
    expect(errors.filter((e) => !/^(access-denied|ERR_[A-Z_]+: )/.test(e) || e.startsWith('ERR_INTERNAL'))).toEqual([]);
    // It got as far as each of the policy's and the namespace's bounds.
    const counts = Object.fromEntries(lines.filter((l) => l.startsWith('count\t')).map((l) => l.split('\t').slice(1)));
    expect(Number(counts['candidate keys'])).toBeGreaterThan(1000);
    expect(Number(counts.open)).toBe(POLICY.maxOpenResources! - POLICY.buckets!.length);
    expect(Number(counts['cas.new'])).toBe(POLICY.maxOpenResources! - POLICY.buckets!.length);
    expect(Number(counts['4 KiB values'])).toBeLessThan(QUOTA.maxMemoryBytes / 4096);
    for (const code of ['ERR_RESOURCE_LIMIT', 'ERR_QUOTA', 'ERR_KEY_TOO_LARGE', 'ERR_BATCH_TOO_LARGE', 'ERR_INVALID_TTL', 'ERR_INVALID_KEY', 'ERR_INVALID_CURSOR']) {
      expect(errors.some((e) => e.startsWith(`${code}: `)), code).toBe(true);
    }

    // The owner's view: unchanged but for the hostile buckets, which it left empty.
    expect(snapshot()).toBe(before);
    expect(dump(a, inItsBuckets)).toEqual([]);
    expect(openResources(imports)).toEqual({ buckets: 0, cas: 0 });
    expect(map.__verify()).toBe(0);
    // The other instance, and the hostile one, still work.
    expect(runB(['get', '1', 'k'], ['incr', '1', 'n', '1'])).toEqual(['some\tS3CRET-b-guest', 'ok\t6']);
    expect(findings(run(input('probe')))).toEqual([]);
  });

  // What the canonical ABI answers with a trap. jco 1.35 checks less than
  // the ABI asks (a drop of a handle index it never gave out passes), and
  // left an instance usable after a pointer outside its memory (a
  // RangeError); the loader ends an instance at any exception that is not
  // an `err` result: ERR_GUEST_TRAP, its resources released, and every later
  // call refused so. Nothing reaches the host's data, and the other
  // instances go on.
  test.each([
    ['swap-consumed', 'a swap of a cas that an earlier swap consumed', 'trap'],
    ['drop-twice', 'a bucket dropped twice', 'trap'],
    ['trap-holding', 'its own trap while it holds a cas', 'trap'],
    ['bad-pointer', 'a key outside its memory', 'trap'],
    ['drop-forged-cas', 'a drop of a cas handle it never had', 'passes'],
  ])('%s: %s kills that instance at most; the others and the map go on', async (mode, _, outcome) => {
    const { a, runB, snapshot, input } = await plant();
    const before = snapshot();
    const first = hostileOver(a);
    const bystander = hostileOver(map.namespace('plugin-c'));
    if (outcome === 'passes') {
      expect(first.run(input(mode))).toMatch(/^not trapped\ndone\t0\t\d+$/);
      expect(findings(first.run(input('probe')))).toEqual([]);
    } else {
      expect(() => first.run(input(mode))).toThrow(expect.objectContaining({ name: 'PluginError', code: 'ERR_GUEST_TRAP' }));
      expect(openResources(first.imports)).toEqual({ buckets: 0, cas: 0 }); // released at the trap
      expect(() => first.run(input('probe'))).toThrow(expect.objectContaining({ code: 'ERR_GUEST_TRAP', message: expect.stringMatching(/trapped earlier/) }));
    }
    expect(snapshot()).toBe(before);
    expect(runB(['get', '1', 'k'], ['set', '1', 'w', 'x'], ['delete', '1', 'w'])).toEqual(['some\tS3CRET-b-guest', 'ok', 'ok']);
    // Other instances of the same component, made before and after.
    for (const other of [bystander, hostileOver(map.namespace('plugin-d'))]) {
      expect(findings(other.run(input('probe')))).toEqual([]);
    }
    expect(snapshot()).toBe(before);
    expect(map.__verify()).toBe(0);
  });

  test('long keys do not pin host memory in the buckets that saw them', async () => {
    // Before, a bucket kept a buffer of three times the longest key it had
    // been given for as long as it was open (64 buckets of 1 MiB keys: 192 MiB).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    map = await createMap();
    const ns = map.namespace('plugin');
    const exports = probe.instantiate(keyValueImports(ns, { maxOpenResources: 64 })) as { handle(input: string): string };
    const open = Array.from({ length: 32 }, () => 'open\tdefault').join('\n');
    expect(exports.handle(open).split('\n').every((l) => l.startsWith('ok\t'))).toBe(true);
    gc();
    const held = process.memoryUsage().arrayBuffers;
    const key = 'k'.repeat(1 << 20);
    for (let b = 1; b <= 32; b++) {
      expect(exports.handle(`get\t${b}\t${key}`)).toMatch(/^err\tother\tERR_KEY_TOO_LARGE: /);
    }
    gc();
    expect(process.memoryUsage().arrayBuffers - held).toBeLessThan(16 << 20);
    expect(exports.handle('get\t1\tk\nset\t32\tk\tv\nget\t1\tk')).toBe('none\nok\tsome\tv'.replace('ok\t', 'ok\n'));
  });
});
