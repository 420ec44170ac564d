// Prints the fingerprints of jco's bindings of the functions wasmap binds
// itself (host/wasi/bindings.ts JCO_FINGERPRINTS), for the jco installed,
// from the probe plugin's transpiled code. After a jco upgrade: check that
// jco's bindings of these functions still lift and lower as bindings.ts
// does, then paste these. Run after `npm run build`.
import { loadComponent } from '../dist/wasi.js';
import { JCO_FINGERPRINTS, jcoBindings } from '../dist/wasi/bindings.js';

const probe = await loadComponent(new URL('../build/plugins/probe.wasm', import.meta.url), { name: 'probe', bindings: 'jco' });
const found = new Map(jcoBindings(probe.handle.js).map((b) => [b.name, b.fingerprint]));
for (const name of Object.keys(JCO_FINGERPRINTS)) {
  const now = found.get(name);
  console.log(`  [${JSON.stringify(name)}]: 0x${(now ?? 0).toString(16).padStart(8, '0')},${now === JCO_FINGERPRINTS[name] ? '' : '  // changed'}`);
}
