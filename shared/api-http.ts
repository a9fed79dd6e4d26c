// The web-mode client: calls `POST /api/<method>` and reads the Server-Sent Events stream `GET /api/events`
// with fetch (not EventSource, which cannot send the token header). Works in browsers and in Node (tests).
import {
  API_ERROR_CODES,
  API_PATH_PREFIX,
  EVENTS_PATH,
  TOKEN_HEADER,
  TOKEN_QUERY,
  TOKEN_STORAGE_KEY,
  isApiErrorData,
  type ApiEvent,
  type ApiResponse,
  type Unsubscribe,
  type WorkbenchApi,
} from './api';
import { createApiProxy, type ApiInvoke, type ApiSubscribe } from './api-proxy';

export interface HttpTransportOptions {
  /** Origin of the server, e.g. "http://127.0.0.1:5173" (the page uses `location.origin`). */
  baseUrl: string;
  /** The per-launch token. */
  token: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Milliseconds before reconnecting a dropped event stream (default 1000, doubling up to 10 s). */
  reconnectDelay?: number;
}

export interface HttpTransport {
  invoke: ApiInvoke;
  subscribe: ApiSubscribe;
  /**
   * Told when the event stream opens (true) or drops (false). Events sent while it was down are lost: on
   * re-open, views should re-read what they show (e.g. listJobs, listRuns).
   */
  onConnection(listener: (open: boolean) => void): Unsubscribe;
  /** Whether the event stream is open now. */
  isConnected(): boolean;
  /** Closes the event stream. */
  close(): void;
}

/** The HTTP transport's two functions, for createApiProxy. */
export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const fetchFunction = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  const headers = { 'content-type': 'application/json', [TOKEN_HEADER]: options.token };

  const invoke: ApiInvoke = async (method, args) => {
    let response: Response;
    try {
      response = await fetchFunction(`${base}${API_PATH_PREFIX}${method}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ args }),
      });
    } catch (error) {
      return transportError(`${method}: the workbench server cannot be reached (${errorMessage(error)})`);
    }
    const text = await response.text();
    try {
      const body = JSON.parse(text) as unknown;
      if (typeof body === 'object' && body !== null && 'ok' in body) return body as ApiResponse;
    } catch {
      // fall through: not JSON
    }
    return transportError(`${method}: HTTP ${response.status} ${text.slice(0, 200)}`);
  };

  const listeners = new Set<(event: ApiEvent) => void>();
  const connectionListeners = new Set<(open: boolean) => void>();
  let controller: AbortController | undefined;
  let closed = false;
  let connected = false;
  const setConnected = (open: boolean) => {
    if (open === connected) return;
    connected = open;
    for (const listener of [...connectionListeners]) listener(open);
  };

  async function readStream(signal: AbortSignal): Promise<void> {
    let delay = options.reconnectDelay ?? 1000;
    while (!signal.aborted) {
      try {
        const response = await fetchFunction(`${base}${EVENTS_PATH}`, {
          headers: { [TOKEN_HEADER]: options.token, accept: 'text/event-stream' },
          signal,
        });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        delay = options.reconnectDelay ?? 1000;
        setConnected(true);
        await parseEventStream(response.body, (data) => {
          let event: ApiEvent;
          try {
            event = JSON.parse(data) as ApiEvent;
          } catch {
            return;
          }
          for (const listener of [...listeners]) listener(event);
        });
      } catch {
        // dropped or refused: retry below unless closed
      }
      setConnected(false);
      if (signal.aborted) return;
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  const subscribe: ApiSubscribe = (listener) => {
    listeners.add(listener);
    if (!controller && !closed) {
      controller = new AbortController();
      void readStream(controller.signal);
    }
    const unsubscribe: Unsubscribe = () => {
      listeners.delete(listener);
      if (listeners.size === 0 && controller) {
        controller.abort();
        controller = undefined;
      }
    };
    return unsubscribe;
  };

  return {
    invoke,
    subscribe,
    onConnection(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },
    isConnected: () => connected,
    close() {
      closed = true;
      listeners.clear();
      controller?.abort();
      controller = undefined;
    },
  };
}

/** The API object over HTTP. Example: `createHttpApi({baseUrl: location.origin, token}).appInfo()`. */
export function createHttpApi(
  options: HttpTransportOptions,
): WorkbenchApi & Pick<HttpTransport, 'onConnection' | 'isConnected' | 'close'> {
  const transport = createHttpTransport(options);
  return {
    ...createApiProxy(transport.invoke, transport.subscribe),
    onConnection: transport.onConnection,
    isConnected: transport.isConnected,
    close: transport.close,
  };
}

/** Minimal Storage and URL access the token hand-over needs (the page passes sessionStorage and history). */
export interface TokenHandoverHost {
  href: string;
  storage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  /** Replaces the address bar's URL without reloading (history.replaceState). */
  replaceUrl(url: string): void;
}

/**
 * Takes the one-time `?token=` from the page URL into session storage and removes it from the address bar,
 * so it is not kept in history or bookmarks. Returns the token (from the URL or from earlier storage), or
 * null when there is none.
 */
export function takeLaunchToken(host: TokenHandoverHost): string | null {
  const url = new URL(host.href);
  const fromUrl = url.searchParams.get(TOKEN_QUERY);
  if (fromUrl) {
    host.storage.setItem(TOKEN_STORAGE_KEY, fromUrl);
    url.searchParams.delete(TOKEN_QUERY);
    host.replaceUrl(url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return host.storage.getItem(TOKEN_STORAGE_KEY);
}

/** Reads an SSE body and calls `onData` with each event's joined `data:` lines. */
export async function parseEventStream(body: ReadableStream<Uint8Array>, onData: (data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let dataLines: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (dataLines.length > 0) onData(dataLines.join('\n'));
        dataLines = [];
      } else if (line.startsWith('data:')) {
        dataLines.push(line.slice(5).replace(/^ /, ''));
      }
      // Other fields (event:, id:, retry:) and comments (": ping") are not used.
    }
  }
}

function transportError(message: string): ApiResponse {
  return { ok: false, error: { name: 'ApiError', code: API_ERROR_CODES.transport, message } };
}

function errorMessage(error: unknown): string {
  if (isApiErrorData(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
