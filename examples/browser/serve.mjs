// A small static file server for the browser example (and the browser tests):
// serves the repository root, so pages can import `/dist/index.js`, with the
// two headers that make a page cross-origin isolated, which is what lets it
// use SharedArrayBuffer and so a SharedMap:
//
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
//
//   npm run example:browser            # builds, then serves on http://127.0.0.1:8080/
//   node examples/browser/serve.mjs [--port 8080] [--host 127.0.0.1] [--no-isolation]
//
// --no-isolation leaves those headers out: the page then has no shared
// memory, says why, and falls back to a LocalMap on its main thread.
// A development server: loopback only by default, GET and HEAD only, no caching.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** The headers of cross-origin isolation (and CORP, so every file may be embedded by such a page). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Starts the server; resolves once it listens.
 * @param {{ root?: string, port?: number, host?: string, isolated?: boolean }} [options]
 *   root: directory served (default: the repository root); port: 0 picks a
 *   free one (default 0); host (default 127.0.0.1); isolated: send the
 *   COOP/COEP headers (default true).
 * @returns {Promise<{ url: string, port: number, close(): Promise<void> }>}
 */
export async function serve({ root = REPO_ROOT, port = 0, host = '127.0.0.1', isolated = true } = {}) {
  const base = resolve(root);
  const extra = isolated ? ISOLATION_HEADERS : {};

  const server = createServer(async (req, res) => {
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...extra, ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { Allow: 'GET, HEAD' });

    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(400, 'bad request\n');
    }
    // Safety: the normalized path must stay inside the served directory.
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) return send(403, 'forbidden\n');

    let info;
    try {
      info = await stat(file);
      if (info.isDirectory()) {
        if (!path.endsWith('/')) return send(301, '', { Location: path + '/' });
        file = join(file, 'index.html');
        info = await stat(file);
      }
    } catch {
      return send(404, `not found: ${path}\n`);
    }
    if (!info.isFile()) return send(404, `not found: ${path}\n`);

    res.writeHead(200, {
      'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-store',
      ...extra,
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const actual = server.address().port;
  // Loopback addresses are secure contexts, as cross-origin isolation needs.
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${actual}`,
    port: actual,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

function parseArgs(argv) {
  const out = { port: 8080, host: '127.0.0.1', isolated: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--port') out.port = Number(value());
    else if (flag === '--host') out.host = value();
    else if (flag === '--no-isolation') out.isolated = false;
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: node examples/browser/serve.mjs [--port 8080] [--host 127.0.0.1] [--no-isolation]');
      process.exit(0);
    } else {
      console.error(`serve.mjs: unknown argument ${JSON.stringify(argv[i])} (try --help)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    console.error('serve.mjs: --port must be an integer from 0 to 65535');
    process.exit(2);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  const { url } = await serve(opts);
  console.log(`wasmap browser example: ${url}/examples/browser/`);
  console.log(
    opts.isolated
      ? '  served with COOP/COEP: the page is cross-origin isolated (SharedMap + Web Workers)'
      : '  served WITHOUT COOP/COEP: the page falls back to a LocalMap on its main thread',
  );
  console.log('  Ctrl+C to stop');
}
