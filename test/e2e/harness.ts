// The e2e harness: web mode started in the test process (real service, real SQLite file in a temp folder,
// the built renderer) and a real headless Chromium driven by playwright-core. Screenshots go to
// test-results/screenshots/ and are kept as artifacts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createWorkbenchService, type JobRunner, type WorkbenchService } from '../../main/service';
import { openRunStore, type RunStore } from '../../main/store/run-store';
import { ensureDemoModel } from '../../main/demo/demo-model';
import { APP_VERSION } from '../../main/version';
import { startWebServer, type WebServer } from '../../main/web/server';

export const ROOT = resolve(__dirname, '..', '..');
export const RENDERER_DIR = join(ROOT, 'out', 'renderer');
export const SCREENSHOT_DIR = join(ROOT, 'test-results', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Builds the renderer when out/renderer is missing (`npm test` builds everything first; this keeps a lone
 * `vitest run test/e2e` working). Only the renderer is built, with the same settings as electron-vite's step.
 */
export function ensureRendererBuilt(): void {
  if (existsSync(join(RENDERER_DIR, 'index.html'))) return;
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(ROOT, 'test', 'e2e', 'renderer.vite.config.ts')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error('building the renderer failed');
}

/** Headless Chromium as every e2e suite runs it: no sandbox (containers), no GPU, no background requests. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** Web mode as `llm-explainer serve` assembles it, on a database of the test's own. */
export interface WebMode {
  server: WebServer;
  service: WorkbenchService;
  store: RunStore;
  close(): Promise<void>;
}

/**
 * The engine pipeline in-process, imported on the first job only, so suites that only read stored runs do
 * not load onnxruntime.
 */
function lazyPipelineRunner(store: RunStore, cacheDir: string, demoModelDir: string): JobRunner {
  let runner: Promise<JobRunner> | undefined;
  return async (request, context) => {
    runner ??= import('../../main/service/pipeline-runner').then(({ pipelineRunner }) => pipelineRunner({ store, cacheDir, demoModelDir }));
    return (await runner)(request, context);
  };
}

/** Starts the real service and HTTP server on a fresh SQLite file in `folder`. */
export async function startWebMode(folder: string): Promise<WebMode> {
  const databasePath = join(folder, 'runs.db');
  const demoModelDir = join(ROOT, '.cache', 'demo-model');
  const store = openRunStore(databasePath);
  const service = createWorkbenchService({
    store,
    runJob: lazyPipelineRunner(store, join(folder, 'cache'), demoModelDir),
    demoModel: () => ensureDemoModel(demoModelDir),
    databasePath,
    mode: 'web',
    version: APP_VERSION,
  });
  const server = await startWebServer({ service, port: 0, rendererDir: RENDERER_DIR });
  return {
    server,
    service,
    store,
    async close() {
      await service.close();
      await server.close();
      store.close();
    },
  };
}

export interface Workbench {
  web: WebMode;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Messages the page logged as errors, failed requests, and CSP violations: the suite expects none. */
  problems: string[];
  folder: string;
  screenshot(name: string, options?: { fullPage?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export interface WorkbenchOptions {
  viewport?: { width: number; height: number };
  /** Called with the store before the browser opens (seeding runs). */
  seed?: (web: WebMode) => Promise<void> | void;
}

/** Starts web mode on a fresh database and opens the launch URL (with its one-time token) in Chromium. */
export async function startWorkbench(options: WorkbenchOptions = {}): Promise<Workbench> {
  ensureRendererBuilt();
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const folder = mkdtempSync(join(tmpdir(), 'llm-explainer-e2e-'));
  const web = await startWebMode(folder);
  await options.seed?.(web);
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // The event stream is aborted on navigation and close; that is not a failure.
    if (!request.url().includes('/api/events')) problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  // Any request leaving the loopback server would break "no remote content".
  await context.route((url) => !url.href.startsWith(web.server.url), (route) => {
    problems.push(`remote request: ${route.request().url()}`);
    return route.abort();
  });
  await page.addInitScript(() => {
    // Runs in the page (no DOM types on the node side).
    const page = globalThis as unknown as { document: { addEventListener(type: string, listener: (event: Record<string, string>) => void): void } };
    page.document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
    });
  });
  await page.goto(web.server.launchUrl);
  return {
    web,
    browser,
    context,
    page,
    problems,
    folder,
    async screenshot(name, shotOptions = {}) {
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: shotOptions.fullPage ?? false });
      return path;
    },
    async close() {
      await browser.close().catch(() => {});
      await web.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
