// The first minutes in the app: web mode started as `llm-explainer serve` does on an empty store opens its
// printed URL on the demo run's detail view, and a report of one run opens on that run, in real Chromium.
// The run made from token ids shows its decoded prompt in the app's list and in the report's.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { RENDERER_DIR, ROOT, SCREENSHOT_DIR, ensureRendererBuilt, launchChromium } from './harness';
import { serveCommand, type WebMode } from '../../main/web/serve';
import { runExplanation } from '../../main/service/pipeline';
import { buildReport } from '../../main/report/write-report';

let folder: string;
let web: WebMode;
let browser: Browser;
const logged: string[] = [];

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  return context.newPage();
}

beforeAll(async () => {
  ensureRendererBuilt();
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  folder = mkdtempSync(join(tmpdir(), 'llm-explainer-first-start-'));
  web = await serveCommand({
    databasePath: join(folder, 'runs.db'),
    cacheDir: join(folder, 'cache'),
    demoModelDir: join(ROOT, '.cache', 'demo-model'),
    rendererDir: RENDERER_DIR,
    port: 0,
    open: false,
    inference: 'in-process',
    log: (line) => logged.push(line),
  });
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe('first start', () => {
  it('prints and opens the demo run\'s detail view rather than the list', async () => {
    expect(web.demoRunId).toMatch(/^r_/);
    const line = logged.find((entry) => entry.startsWith('LLM Explainer Workbench (web mode): '))!;
    const url = line.slice(line.indexOf('http'));
    expect(url).toBe(`${web.server.launchUrl}#/runs/${web.demoRunId}`);
    const page = await newPage();
    await page.goto(url);
    // The detail view fills in when the queued demo run finishes.
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor({ timeout: 180_000 });
    expect(new URL(page.url()).hash).toBe(`#/runs/${web.demoRunId}`);
    expect(new URL(page.url()).searchParams.get('token')).toBeNull();
    expect(await page.getByTestId('answer-chips').textContent()).toContain('email');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'first-start-demo-run.png') });
    await page.context().close();
  });
});

describe('a run made from token ids, and a report of one run', () => {
  let runId: string;
  let decoded: string;

  beforeAll(async () => {
    const demo = web.store.getRun(web.demoRunId!)!;
    const { run } = await runExplanation(
      { task: 'completion', inputIds: demo.tokens.ids.slice(0, demo.promptLength), generation: { maxNewTokens: 8 }, methods: ['attention'], device: 'cpu' },
      { store: web.store, cacheDir: join(folder, 'cache'), demoModelDir: join(ROOT, '.cache', 'demo-model') },
    );
    runId = run.id;
    decoded = run.input.decodedPrompt!;
    expect(decoded).toContain('When is email support open?');
  }, 180_000);

  it('shows its decoded prompt in the app\'s runs list', async () => {
    const page = await newPage();
    await page.goto(`${web.server.launchUrl}#/runs`);
    const prompt = page.locator(`[role="row"][data-run-id="${runId}"] .td.prompt a`);
    await prompt.waitFor();
    expect(await prompt.textContent()).toContain('When is email support open?');
    await page.context().close();
  });

  it('a report of it opens on its detail, and its list shows the decoded prompt', async () => {
    const file = join(folder, 'one-run.html');
    writeFileSync(file, await buildReport(web.service, { runIds: [runId] }));
    const page = await newPage();
    await page.goto(pathToFileURL(file).href);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/runs/${runId}`);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'report-one-run.png') });
    await page.locator('.back a').click();
    const prompt = page.locator(`[role="row"][data-run-id="${runId}"] .td.prompt a`);
    await prompt.waitFor();
    expect(await prompt.textContent()).toContain('When is email support open?');
    await page.context().close();
  });
});
