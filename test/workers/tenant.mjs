// A hostile tenant: a worker given only its namespace view's handle tries
// every way out of that namespace through the public API, and reports each
// one that worked (namespaces.test.ts, "hostile tenant").
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const { handle, secrets, foreignTags } = workerData;
const escapes = [];
/** `what` as text: plain data as JSON, anything else (a map) by its class. */
const text = (what) => {
  if (typeof what === 'string') return what;
  if (what !== null && typeof what === 'object' && !Array.isArray(what) && Object.getPrototypeOf(what) !== Object.prototype) {
    return `a ${what.constructor?.name ?? 'object'}`;
  }
  return JSON.stringify(what) ?? String(what);
};
const found = (how, what) => escapes.push(`${how}: ${text(what)}`);
/** Whether `text` shows anything of outside the namespace. */
const leaks = (text) => secrets.some((s) => String(text).includes(s));

/** Runs `fn`; an error is the expected outcome, but its message must leak nothing. */
function refused(how, fn) {
  try {
    const r = fn();
    if (r !== undefined && r !== false && r !== null && r !== 0) found(how, r);
    if (leaks(text(r ?? null))) found(`${how} (result)`, r);
  } catch (e) {
    if (leaks(e?.message)) found(`${how} (error message)`, e.message);
  }
}

async function attachRefused(how, h) {
  try {
    const m = await SharedMap.attach(h);
    const seen = [...m.keys()].map(String);
    found(how, { size: m.size, keys: seen });
    m.close();
  } catch (e) {
    if (leaks(e?.message)) found(`${how} (error message)`, e.message);
  }
}

const view = await SharedMap.attach(handle);
view.set('mine', 'tenant value');
if (view.size !== 1) found('its own handle opened more than its namespace', [...view.keys()].map(String));

// Handles: the view's own, changed in every way a tenant can change it.
const { namespace = { tag: -1, name: '' }, token, ...bare } = handle;
await attachRefused('handle without its namespace', { ...bare, token });
await attachRefused('handle without token or namespace', bare);
await attachRefused('handle with a zero token', { ...handle, token: [0, 0, 0, 0] });
await attachRefused('handle with a zero token, no namespace', { ...bare, token: [0, 0, 0, 0] });
for (const tag of foreignTags) {
  for (let gen = 0; gen < 4; gen++) {
    const t = (tag & 1023) | (gen << 10);
    if (t === namespace.tag) continue;
    await attachRefused(`handle with tag ${t}`, { ...handle, namespace: { tag: t, name: namespace.name } });
  }
}
await attachRefused('handle with another name', { ...handle, namespace: { ...namespace, name: 'secret-ns' } });

// Methods of the map itself.
refused('namespace()', () => view.namespace('secret-ns'));
refused('namespace() of a new name', () => view.namespace('new'));
refused('dropNamespace()', () => view.dropNamespace('secret-ns'));
refused('memoryUsage()', () => view.memoryUsage());
refused('releaseThread()', () => { for (let id = 0; id < 64; id++) if (view.releaseThread(id) !== 0) return `released ${id}`; });
refused('releaseOnExit()', () => view.releaseOnExit({ threadId: 0, once: (_e, cb) => cb() }));

// What it may read must be its own only.
const stats = view.stats();
if (Object.keys(stats).join() !== 'namespace' || stats.namespace.name !== namespace.name || stats.namespace.entries !== 1) found('stats()', stats);
if (leaks(view.metrics()) || /namespace="(?!tenant)/.test(view.metrics())) found('metrics()', view.metrics());
let json = '';
try {
  json = JSON.stringify(view);
} catch {
  // (no toJSON: the internals are the whole memory) not a way out
}
if (leaks(String(view)) || leaks(json)) found('toString / JSON', String(view));
if (view.size !== 1) found('size', view.size);

// Keys that look like another namespace's: its tag's bytes, then a name
// the owner uses, as raw bytes and as strings.
const names = ['token', 'rootkey', 'n'];
for (const tag of [0, 1, ...foreignTags]) {
  for (const name of names) {
    const tagged = new Uint8Array([tag & 255, (tag >> 8) & 255, (tag >> 16) & 255, (tag >> 24) & 255, ...new TextEncoder().encode(name)]);
    const asString = String.fromCharCode(...tagged);
    for (const key of [tagged, tagged.subarray(4), asString, name]) {
      refused(`get(${JSON.stringify([...(typeof key === 'string' ? new TextEncoder().encode(key) : key)])})`, () => view.get(key));
      refused('has()', () => view.has(key));
      refused('getAndDelete()', () => view.getAndDelete(key));
      refused('delete()', () => view.delete(key));
      refused('compareAndDelete()', () => view.compareAndDelete(key, 'hunter2'));
      refused('compareAndSwap()', () => view.compareAndSwap(key, 'hunter2', 'stolen'));
      refused('ttl()', () => { const t = view.ttl(key); return t === undefined ? undefined : `ttl ${t}`; });
      refused('expire()', () => view.expire(key, 1));
      const computed = await view.getOrCompute(key, () => 'computed by the tenant');
      if (computed !== 'computed by the tenant') found('getOrCompute()', computed);
      view.delete(key);
    }
  }
}
const keys = [...view.keys()].map(String);
if (keys.join() !== 'mine') found('keys()', keys);
const entries = [...view.entries()].map(([k, v]) => [String(k), String(v)]);
if (JSON.stringify(entries) !== JSON.stringify([['mine', 'tenant value']])) found('entries()', entries);
for (const [k] of view) if (String(k) !== 'mine') found('iteration', String(k));
refused('purgeExpired() counts only its own', () => view.purgeExpired());
view.clear();
if (view.size !== 0) found('clear()', view.size);
view.set('mine', 'tenant value');
view.close();

parentPort.postMessage({ escapes });
