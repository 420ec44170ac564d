// The watching probe (world `watching-plugin`): the probe's commands, and the
// wasi:keyvalue watcher, which writes down in the store what it was told:
//   on-set:    counter "watch:sets" + 1, "watch:last-set" = KEY=VALUE
//   on-delete: counter "watch:deletes" + 1, "watch:last-delete" = KEY
// (the host does not tell a watcher about its own writes). The build renames
// onSet/onDelete to the core names wit-component expects
// ("wasi:keyvalue/watcher@0.2.0-draft2#on-set", ...).
import * as kv from './abi';

export { cabi_realloc } from './abi';
export { handle, cabi_post_handle } from './commands';

function note(b: i32, counter: string, key: string, k: usize, kl: usize, v: usize, vl: usize, hasValue: bool): void {
  const c = kv.alloc(<usize>counter.length, 1);
  for (let i = 0; i < counter.length; i++) store<u8>(c + i, <u8>counter.charCodeAt(i));
  kv.increment(b, c, <usize>counter.length, 1);
  const n = <usize>key.length;
  const name = kv.alloc(n, 1);
  for (let i: usize = 0; i < n; i++) store<u8>(name + i, <u8>key.charCodeAt(<i32>i));
  const text = kv.alloc(kl + 1 + vl, 1);
  memory.copy(text, k, kl);
  let len = kl;
  if (hasValue) {
    store<u8>(text + kl, 61); // '='
    memory.copy(text + kl + 1, v, vl);
    len += 1 + vl;
  }
  kv.set(b, name, n, text, len);
}

/** watcher.on-set(bucket: own<bucket>, key: string, value: list<u8>) */
export function onSet(b: i32, k: usize, kl: usize, v: usize, vl: usize): void {
  note(b, 'watch:sets', 'watch:last-set', k, kl, v, vl, true);
  kv.dropBucket(b);
  kv.resetArea();
  kv.resetHeap();
}

/** watcher.on-delete(bucket: own<bucket>, key: string) */
export function onDelete(b: i32, k: usize, kl: usize): void {
  note(b, 'watch:deletes', 'watch:last-delete', k, kl, 0, 0, false);
  kv.dropBucket(b);
  kv.resetArea();
  kv.resetHeap();
}
