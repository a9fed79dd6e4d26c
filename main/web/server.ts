// Web mode's transport: the built renderer and the workbench API over HTTP on 127.0.0.1 only (node:http, no
// framework). `POST /api/<method>` with `{args: [...]}` answers an ApiResponse envelope; `GET /api/events` is a
// Server-Sent Events stream of ApiEvents. Every API request needs the per-launch token header.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  API_ERROR_CODES,
  API_PATH_PREFIX,
  EVENTS_PATH,
  TOKEN_HEADER,
  TOKEN_QUERY,
  type ApiErrorData,
  type ApiResponse,
} from '../../shared/api';
import type { WorkbenchService } from '../service';
import { SECURITY_HEADERS, createToken, originProblem, tokenMatches } from './security';
import { serveStatic } from './static-files';

/** Largest accepted request body (a long prompt or a batch of token ids fits easily). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** The port tried first when none is given; another free one is taken when it is busy. */
export const DEFAULT_PORT = 8427;
/** Keeps idle SSE connections alive through proxies and lets dead ones be noticed. */
const HEARTBEAT_MS = 15_000;

export interface WebServerOptions {
  service: WorkbenchService;
  /** 0 picks a free port; default DEFAULT_PORT, falling back to a free one. */
  port?: number;
  /** The built renderer (out/renderer); without it only the API is served. */
  rendererDir?: string;
  /** Per-launch token; a random one by default. */
  token?: string;
}

export interface WebServer {
  /** e.g. "http://127.0.0.1:8427" */
  url: string;
  port: number;
  token: string;
  /** The URL to open once: it hands the token to the page. */
  launchUrl: string;
  close(): Promise<void>;
}

/** HTTP status of each error code; every code the caller's input can cause is a 4xx, the rest 500. */
const STATUS_BY_CODE: Record<string, number> = {
  [API_ERROR_CODES.invalidArgument]: 400,
  // A dataset with bad lines (main/experiments/dataset DatasetError).
  invalid_dataset: 400,
  // A store change that the run's state does not allow (main/store StoreError), e.g. a rename onto a taken name.
  invalid_state: 409,
  [API_ERROR_CODES.unknownMethod]: 404,
  [API_ERROR_CODES.notFound]: 404,
  [API_ERROR_CODES.unauthorized]: 401,
  [API_ERROR_CODES.forbidden]: 403,
  [API_ERROR_CODES.unsupported]: 501,
  // A well-formed request the machine cannot serve (memory budget, model positions): the client must change it.
  [API_ERROR_CODES.tooLarge]: 422,
};

/**
 * Starts the server on 127.0.0.1. Example: `const server = await startWebServer({service, rendererDir})`;
 * `server.launchUrl` → "http://127.0.0.1:8427/?token=…".
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? createToken();
  const sockets = new Set<Socket>();
  const streams = new Set<ServerResponse>();
  let port = 0;

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        // One line, no stack: the client learns that the server failed, not how it is built.
        sendJson(response, 500, failure(API_ERROR_CODES.internal, (error instanceof Error ? error.message : String(error)).split('\n')[0]));
      } else {
        response.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const refused = originProblem(request, port);
    if (refused) return sendJson(response, 403, failure(API_ERROR_CODES.forbidden, refused));
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`);

    if (url.pathname === EVENTS_PATH || url.pathname.startsWith(API_PATH_PREFIX)) {
      const given = request.headers[TOKEN_HEADER];
      if (typeof given !== 'string' || given === '') {
        return sendJson(response, 401, failure(API_ERROR_CODES.unauthorized, `missing ${TOKEN_HEADER} header`));
      }
      if (!tokenMatches(token, given)) {
        return sendJson(response, 403, failure(API_ERROR_CODES.forbidden, `wrong ${TOKEN_HEADER} header`));
      }
      if (url.pathname === EVENTS_PATH) {
        if (request.method !== 'GET') return sendJson(response, 405, failure(API_ERROR_CODES.invalidArgument, 'use GET for events'));
        return openEventStream(request, response);
      }
      let method: string;
      try {
        method = decodeURIComponent(url.pathname.slice(API_PATH_PREFIX.length));
      } catch {
        return sendJson(response, 400, failure(API_ERROR_CODES.invalidArgument, 'malformed method name in the URL'));
      }
      return callApi(request, response, method);
    }

    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendJson(response, 405, failure(API_ERROR_CODES.invalidArgument, `${request.method} is not allowed here`));
    }
    if (!options.rendererDir) {
      return sendText(response, 404, 'The renderer is not built (run `npm run build`); the API is available under /api/.');
    }
    return serveStatic(request, response, options.rendererDir, url.pathname, SECURITY_HEADERS);
  }

  async function callApi(request: IncomingMessage, response: ServerResponse, method: string): Promise<void> {
    if (request.method !== 'POST') {
      return sendJson(response, 405, failure(API_ERROR_CODES.invalidArgument, `use POST ${API_PATH_PREFIX}${method}`));
    }
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      return sendJson(response, 415, failure(API_ERROR_CODES.invalidArgument, 'the body must be application/json'));
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch (error) {
      const tooLarge = error instanceof BodyTooLargeError;
      return sendJson(
        response,
        tooLarge ? 413 : 400,
        failure(API_ERROR_CODES.invalidArgument, tooLarge ? error.message : `the body is not valid JSON (${(error as Error).message})`),
      );
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray((body as { args?: unknown }).args)) {
      return sendJson(response, 400, failure(API_ERROR_CODES.invalidArgument, 'the body must be {"args": [...]}'));
    }
    const result = await options.service.call(method, (body as { args: unknown[] }).args);
    const status = result.ok ? 200 : (STATUS_BY_CODE[result.error.code] ?? 500);
    sendJson(response, status, result);
  }

  function openEventStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    // The first comment flushes the headers, so the client knows the stream is open.
    response.write(': connected\n\n');
    streams.add(response);
    const unsubscribe = options.service.onEvent((event) => {
      response.write(`data: ${JSON.stringify(event)}\n\n`);
    });
    const heartbeat = setInterval(() => response.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(response);
    };
    request.on('close', stop);
    response.on('close', stop);
  }

  port = await listen(server, options.port ?? DEFAULT_PORT, options.port === undefined);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    token,
    launchUrl: `${url}/?${TOKEN_QUERY}=${encodeURIComponent(token)}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Listens on 127.0.0.1; when `fallback` is set and the port is busy, takes any free port instead. */
function listen(server: Server, port: number, fallback: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (fallback && error.code === 'EADDRINUSE') {
        server.listen(0, '127.0.0.1');
        return;
      }
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.on('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

class BodyTooLargeError extends Error {}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is drained and dropped, so the 413 answer still reaches the client.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(new BodyTooLargeError(`the body is larger than ${MAX_BODY_BYTES} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    request.on('error', reject);
  });
}

function failure(code: string, message: string): ApiResponse {
  const error: ApiErrorData = { name: 'ApiError', code, message };
  return { ok: false, error };
}

function sendJson(response: ServerResponse, status: number, body: ApiResponse): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end(text);
}
