// The runtimes bench's case for workerd (see runtimes.mjs): one isolate, one
// thread, the map in module scope. The clock stands still during a request,
// so the caller times the requests:
//   GET /load            creates the map (once) and sets every key; builds the data
//   GET /run?ops=N&seed=S runs N operations of the mix, reports what it read
//   GET /noop            nothing (the cost of a request, to subtract)
//   GET /verify          every key holds one of its two values
import { SharedMap } from 'wasmap';
import wasm from 'wasmap/wasmap.wasm';
import { runCount } from './workload.mjs';
import { checkRun, makeDataset, populate, verify } from './workload.mjs';

let map;
let data;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case '/load':
          map ??= await SharedMap.create({ module: wasm, maxMemoryBytes: 256 << 20 });
          data ??= makeDataset();
          populate(map, data);
          return Response.json({ size: map.size });
        case '/run': {
          const run = runCount(map, data, Number(url.searchParams.get('ops')), Number(url.searchParams.get('seed')));
          return Response.json({ ...run, problems: checkRun(run) });
        }
        case '/noop':
          return Response.json({});
        case '/verify':
          return Response.json({ problems: verify(map, data) });
      }
      return new Response('no such route', { status: 404 });
    } catch (err) {
      return new Response(String(err?.stack ?? err), { status: 500 });
    }
  },
};
