// Web mode's transport against the real service and store: the token and origin checks, argument errors as
// JSON, the real HTTP client (shared/api-http) for good calls and Server-Sent progress events, and the static
// renderer files with their security headers.
import { request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, TOKEN_HEADER, type ProgressEvent, type RunsChangedEvent } from '../../../shared/api';
import { createHttpApi, takeLaunchToken } from '../../../shared/api-http';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { startWebServer, type WebServer } from '../../../main/web/server';
import { request, storeWritingRunner, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let service: WorkbenchService;
let server: WebServer;
let api: ReturnType<typeof createHttpApi>;

beforeAll(async () => {
  temp = tempStore();
  const rendererDir = join(temp.dir, 'renderer');
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>workbench</title>');
  writeFileSync(join(rendererDir, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(temp.dir, 'secret.txt'), 'do not serve');
  service = createWorkbenchService({
    store: temp.store,
    runJob: storeWritingRunner(temp.store),
    demoModel: async () => '/models/demo',
    databasePath: temp.databasePath,
    mode: 'web',
    version: '0.1.0-test',
  });
  server = await startWebServer({ service, port: 0, rendererDir });
  api = createHttpApi({ baseUrl: server.url, token: server.token, reconnectDelay: 100 });
});

afterAll(async () => {
  api?.close();
  await service?.close();
  await server?.close();
  temp?.dispose();
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request, so Host and Origin can be set to anything (fetch would not allow it). */
function raw(options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: server.port, method: options.method ?? 'GET', path: options.path, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    if (options.body) req.write(options.body);
    req.end();
  });
}

function apiCall(method: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return raw({
    method: 'POST',
    path: `/api/${method}`,
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: server.token, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('access control', () => {
  it('listens on 127.0.0.1 and hands the token over once in the launch URL', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.launchUrl).toBe(`${server.url}/?token=${encodeURIComponent(server.token)}`);
    expect(server.token.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses API calls without the token (401) or with a wrong one (403)', async () => {
    const missing = await apiCall('listRuns', { args: [] }, { [TOKEN_HEADER]: '' });
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    const wrong = await apiCall('listRuns', { args: [] }, { [TOKEN_HEADER]: 'x'.repeat(43) });
    expect(wrong.status).toBe(403);
    const events = await raw({ path: '/api/events' });
    expect(events.status).toBe(401);
  });

  it('refuses other hosts (DNS rebinding) and other origins, even with the token', async () => {
    const rebinding = await apiCall('listRuns', { args: [] }, { host: `evil.example:${server.port}` });
    expect(rebinding.status).toBe(403);
    expect(JSON.parse(rebinding.body).error.message).toContain('is not this server');
    const page = await raw({ path: '/', headers: { host: `evil.example:${server.port}` } });
    expect(page.status).toBe(403);
    const origin = await apiCall('listRuns', { args: [] }, { origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    expect(JSON.parse(origin.body).error.message).toContain('may not call this server');
    const crossSite = await apiCall('listRuns', { args: [] }, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const ours = await apiCall('listRuns', { args: [] }, { origin: server.url, host: `localhost:${server.port}` });
    expect(ours.status).toBe(200);
    expect(ours.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('API over HTTP', () => {
  it('answers bad arguments with a clear JSON error', async () => {
    const badType = await apiCall('getRun', { args: [42] });
    expect(badType.status).toBe(400);
    expect(JSON.parse(badType.body)).toEqual({
      ok: false,
      error: { name: 'ApiError', code: 'invalid_argument', message: 'getRun: id must be a string (got the number 42)' },
    });
    const unknown = await apiCall('dropDatabase', { args: [] });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe('unknown_method');
    const notJson = await apiCall('listRuns', '{args: [');
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.body).error.message).toContain('not valid JSON');
    const noArgs = await apiCall('listRuns', { query: {} });
    expect(JSON.parse(noArgs.body).error.message).toBe('the body must be {"args": [...]}');
    const get = await raw({ path: '/api/listRuns', headers: { [TOKEN_HEADER]: server.token } });
    expect(get.status).toBe(405);
    const text = await raw({ method: 'POST', path: '/api/listRuns', headers: { [TOKEN_HEADER]: server.token, 'content-type': 'text/plain' }, body: '{"args":[]}' });
    expect(text.status).toBe(415);
  });

  it('rebuilds errors as ApiError in the HTTP client', async () => {
    const error = await api.createRun({ task: 'completion', prompt: 'x', methods: [], device: 'cpu' } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'invalid_argument', message: 'createRun: request.generation is required' });
  });

  it('creates a run and streams its progress over Server-Sent Events', async () => {
    const progress: ProgressEvent[] = [];
    const changes: RunsChangedEvent[] = [];
    const stopProgress = api.onProgress((event) => progress.push(event));
    const stopChanges = api.onRunsChanged((event) => changes.push(event));
    // The stream must be open before the run starts, or its first events are missed.
    if (!api.isConnected()) await new Promise<void>((resolve) => { const stop = api.onConnection((open) => { if (open) { stop(); resolve(); } }); });
    const { runId } = await api.createRun(request({ tags: ['http'] }));
    const start = Date.now();
    while (!progress.some((e) => e.runId === runId && e.stage === 'done') && Date.now() - start < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stopProgress();
    stopChanges();
    expect(progress.filter((e) => e.runId === runId).map((e) => e.stage)).toEqual(['queued', 'load', 'generate', 'attention', 'store', 'done']);
    expect(changes).toContainEqual({ reason: 'finished', runIds: [runId] });

    const page = await api.listRuns({ tag: 'http' });
    expect(page.total).toBe(1);
    expect(page.rows[0]).toMatchObject({ id: runId, status: 'done', tags: ['http'] });
    const run = await api.getRun(runId);
    expect(run).toMatchObject({ id: runId, answerText: 'at nine' });
    const slice = await api.getTensorSlice(runId, 'attention.data', [0, 1]);
    expect(slice).toMatchObject({ shape: [3, 5], axes: ['row', 'col'] });
    expect(slice!.data[0]).toBeCloseTo(0.15, 6);
    const updated = await api.updateRun(runId, { notes: 'via http', tags: ['http', 'checked'] });
    expect(updated!.tags).toEqual(['checked', 'http']);
    expect(await api.getRun('r_missing')).toBeNull();
    expect((await api.appInfo()).mode).toBe('web');
  });
});

describe('renderer files', () => {
  it('serves index.html with a strict CSP and no caching', async () => {
    const page = await raw({ path: '/' });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>workbench</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    const withToken = await raw({ path: `/?token=${server.token}` });
    expect(withToken.status).toBe(200);
  });

  it('serves hashed assets, falls back to index.html for routes, and never leaves the folder', async () => {
    const script = await raw({ path: '/assets/index-abc123.js' });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toContain('immutable');
    expect((await raw({ path: '/runs/r_123' })).body).toContain('<title>workbench</title>');
    expect((await raw({ path: '/missing.js' })).status).toBe(404);
    expect((await raw({ path: '/../secret.txt' })).status).toBe(404);
    expect((await raw({ path: '/%2e%2e/secret.txt' })).status).toBe(404);
    expect((await raw({ path: '/assets/%2e%2e/%2e%2e/secret.txt' })).status).toBe(404);
    expect((await raw({ method: 'POST', path: '/' })).status).toBe(405);
  });
});

describe('token hand-over in the page', () => {
  it('moves ?token= into session storage and out of the address bar', () => {
    const storage = new Map<string, string>();
    const replaced: string[] = [];
    const host = {
      href: 'http://127.0.0.1:8427/runs?token=abc&x=1#top',
      storage: { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v) },
      replaceUrl: (url: string) => void replaced.push(url),
    };
    expect(takeLaunchToken(host)).toBe('abc');
    expect(replaced).toEqual(['/runs?x=1#top']);
    expect(takeLaunchToken({ ...host, href: 'http://127.0.0.1:8427/runs' })).toBe('abc');
  });
});
