// A service that starts warm: it restores its map from the file its last
// run wrote, and writes the map there again when it stops.
//   node examples/warm-restart.mjs [file]   (run it twice)
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SharedMap } from 'wasmap';

const file = process.argv[2] ?? 'wasmap-state.bin';

const map = existsSync(file) ? await SharedMap.restore(createReadStream(file)) : await SharedMap.create();
const runs = map.increment('runs');
map.set(`run:${runs}`, new Date().toISOString(), { ttl: 24 * 3600_000 });
console.log(`run ${runs}: ${map.size} entries, ${runs === 1 ? 'started cold' : 'started warm'}`);

// Shutdown: no thread writes any more, so the export is the map at one revision.
await pipeline(Readable.fromWeb(map.export()), createWriteStream(file));
map.close();
