// Serves the built renderer: files under one folder only (no path escapes), the right content types, and
// index.html for client-side routes. HTML is never cached (it references hashed asset names that change).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * Answers a GET/HEAD for `pathname` from `root`. Paths with a file extension that do not exist get 404;
 * other paths (client routes) get index.html.
 */
export async function serveStatic(
  request: IncomingMessage,
  response: ServerResponse,
  root: string,
  pathname: string,
  headers: Readonly<Record<string, string>>,
): Promise<void> {
  const base = resolve(root);
  let relative: string;
  try {
    relative = decodeURIComponent(pathname);
  } catch {
    return notFound(response, headers);
  }
  if (relative.includes('\0')) return notFound(response, headers);
  let file = resolve(join(base, relative));
  // join/resolve remove "..": whatever is left must still be inside the root.
  if (file !== base && !file.startsWith(base + sep)) return notFound(response, headers);

  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = join(file, 'index.html');
    info = await stat(file).catch(() => undefined);
  }
  if (!info?.isFile()) {
    if (extname(relative) !== '') return notFound(response, headers);
    file = join(base, 'index.html');
    info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return notFound(response, headers);
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  // Built assets carry a content hash in their names (assets/index-1a2b3c.js) and can be kept for long.
  const immutable = /[\\/]assets[\\/]/.test(file) && type !== CONTENT_TYPES['.html'];
  response.writeHead(200, {
    ...headers,
    'content-type': type,
    'content-length': info.size,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-store',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file);
    stream.on('error', fail);
    stream.on('end', () => done());
    stream.pipe(response);
  });
}

function notFound(response: ServerResponse, headers: Readonly<Record<string, string>>): void {
  response.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end('Not found');
}
