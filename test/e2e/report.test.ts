// Every HTML report written by main/report, opened in headless Chromium from file:// with all networking cut:
// runs of two fixture models (llama-style and gpt2-style, real pipeline, real SQLite), a whole experiment,
// and a run whose prompt and answer hold markup. Nothing may be requested, nothing may break the policy, no
// markup may run, and the views must show the runs as the app does. Screenshots go to test-results/.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, ROOT, SCREENSHOT_DIR } from './harness';
import { openRunStore, type RunStore } from '../../main/store/run-store';
import { buildReport, findRendererDir } from '../../main/report/write-report';
import { HOSTILE_PROMPT, REPORT_EXPERIMENT, makeReportRuns, type ReportRuns, reportService } from '../fixtures/report/runs';

let dir: string;
let store: RunStore;
let runs: ReportRuns;
let browser: Browser;
const files: Record<'runs' | 'experiment' | 'hostile', string> = { runs: '', experiment: '', hostile: '' };

/** A fresh page on a context that aborts and records every request that is not the report file itself. */
interface ReportPage {
  page: Page;
  context: BrowserContext;
  requests: string[];
  problems: string[];
  dialogs: string[];
}

async function openReport(file: string, hash = ''): Promise<ReportPage> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const opened: ReportPage = { page: await context.newPage(), context, requests: [], problems: [], dialogs: [] };
  const { page } = opened;
  const document = pathToFileURL(file).href;
  await context.route(
    () => true,
    (route) => {
      const url = route.request().url();
      if (url === document) return route.continue();
      opened.requests.push(url);
      return route.abort();
    },
  );
  page.on('request', (request) => {
    if (request.url() !== document && !opened.requests.includes(request.url())) opened.requests.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') opened.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => opened.problems.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    opened.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.addInitScript(() => {
    const page = globalThis as unknown as { document: { addEventListener(type: string, listener: (event: Record<string, string>) => void): void } };
    page.document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  await page.goto(`${document}${hash}`);
  return opened;
}

/** What every report page must end with: no requests, no errors, no CSP violations, no dialogs. */
function expectClean(opened: ReportPage) {
  expect(opened.requests, 'network requests').toEqual([]);
  expect(opened.problems, 'page errors and policy violations').toEqual([]);
  expect(opened.dialogs, 'dialogs').toEqual([]);
}

async function shot(page: Page, name: string, fullPage = false): Promise<string> {
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

beforeAll(async () => {
  if (!findRendererDir()) throw new Error('build the renderer first: npx electron-vite build (npm test does it)');
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'report-e2e-'));
  store = openRunStore(join(dir, 'runs.db'));
  runs = await makeReportRuns(store, dir);
  const write = async (name: keyof typeof files, html: Promise<string>) => {
    files[name] = join(dir, `report-${name}.html`);
    writeFileSync(files[name], await html);
  };
  await write('runs', buildReport(reportService(store), { runIds: [runs.llama, runs.gpt2], title: 'Support desk report' }));
  await write('experiment', buildReport(reportService(store), { experiment: REPORT_EXPERIMENT }));
  await write('hostile', buildReport(reportService(store), { runIds: [runs.hostile] }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('HTML report from file://, offline', () => {
  it('opens on the list of its runs, read-only', async () => {
    const opened = await openReport(files.runs);
    const { page } = opened;
    await page.locator('[role="row"][data-run-id]').first().waitFor();
    expect(await page.getByTestId('runs-total').textContent()).toBe('2 runs');
    expect(await page.locator('.brand').textContent()).toContain('Support desk report');
    expect(await page.getByRole('link', { name: 'New run' }).count()).toBe(0);
    expect(await page.title()).toBe('Support desk report');
    await shot(page, 'report-index');
    expectClean(opened);
    await opened.context.close();
  });

  it('shows each run: model, token chips, heatmap, head grid, and a head opens its matrix', async () => {
    const opened = await openReport(files.runs);
    const { page } = opened;
    for (const [id, architecture] of [[runs.llama, 'llama'], [runs.gpt2, 'gpt2']] as const) {
      const stored = store.getRun(id)!;
      await page.locator(`[role="row"][data-run-id="${id}"] .td.prompt a`).click();
      await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
      expect(await page.locator('#run-title').textContent()).toBe(stored.model.name);
      expect(await page.locator('.run-header').textContent()).toContain(architecture);
      const chips = (await page.getByTestId('prompt-chips').locator('.chip').count()) + (await page.getByTestId('answer-chips').locator('.chip').count());
      expect(chips).toBe(stored.tokens.ids.length);
      await expect.poll(() => page.locator('.heatmap canvas').count()).toBeGreaterThan(0);
      const { layers, heads } = stored.attention!;
      await expect.poll(() => page.locator('td.cell canvas').count()).toBe(layers * heads);
      await page.locator(`td.cell[data-layer="${layers - 1}"][data-head="${heads - 1}"]`).click();
      await page.locator('dialog.head-dialog canvas').first().waitFor();
      expect(await page.locator('dialog.head-dialog').textContent()).toContain(`Layer ${layers - 1}, head ${heads - 1}`);
      await shot(page, `report-head-${architecture}`);
      await page.keyboard.press('Escape');
      await page.locator('dialog.head-dialog').waitFor({ state: 'detached' });
      await shot(page, `report-run-${architecture}`, true);
      await page.locator('.back a').click();
      await page.locator('[role="row"][data-run-id]').first().waitFor();
    }
    expectClean(opened);
    await opened.context.close();
  });

  it('carries the word view: a run opened at ?unit=words shows words, with the rule', async () => {
    const stored = store.getRun(runs.llama)!;
    const starts = stored.tokens.wordStarts!;
    // Word starts of the prompt by hand (the first prompt token always starts one).
    const promptWords = starts.slice(0, stored.promptLength).filter((start, index) => start || index === 0).length;
    expect(promptWords).toBeLessThan(stored.promptLength);
    const opened = await openReport(files.runs, `#/runs/${runs.llama}?unit=words`);
    const { page } = opened;
    await page.getByRole('heading', { name: 'Words', exact: true }).waitFor();
    expect(await page.getByTestId('prompt-chips').locator('.chip').count()).toBe(promptWords);
    expect(await page.getByTestId('unit-rule').textContent()).toContain('averaged over the queries');
    await expect.poll(() => page.locator('td.cell canvas').count()).toBe(stored.attention!.layers * stored.attention!.heads);
    // Back to tokens inside the report.
    await page.getByRole('radio', { name: 'Tokens' }).check();
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(await page.getByTestId('prompt-chips').locator('.chip').count()).toBe(stored.promptLength);
    expectClean(opened);
    await opened.context.close();
  });

  it('prints without the navigation, the charts within the page width', async () => {
    const opened = await openReport(files.runs, `#/runs/${runs.llama}`);
    const { page } = opened;
    await expect.poll(() => page.locator('td.cell canvas').count()).toBeGreaterThan(0);
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('nav.sidebar').isVisible()).toBe(false);
    expect(await page.locator('.report-colophon').textContent()).toMatch(/LLM Explainer Workbench .* 2 runs/);
    // Every chart and head map stays inside its section, at the screen width and at a page's width.
    const overflow = () =>
      page.evaluate(() => {
        type Box = { left: number; right: number; top: number; bottom: number };
        type Element = { getBoundingClientRect(): Box; closest(selector: string): Element | null; className: string };
        const document = (globalThis as unknown as { document: { querySelectorAll(selector: string): ArrayLike<Element> } }).document;
        const problems: string[] = [];
        for (const canvas of Array.from(document.querySelectorAll('.card canvas'))) {
          const inner = canvas.getBoundingClientRect();
          const card = canvas.closest('.card')!.getBoundingClientRect();
          if (inner.right > card.right + 0.5 || inner.bottom > card.bottom + 0.5 || inner.left < card.left - 0.5) {
            problems.push(`${canvas.className || 'canvas'} ${JSON.stringify(inner)} outside ${JSON.stringify(card)}`);
          }
        }
        return problems;
      });
    expect(await overflow()).toEqual([]);
    await page.setViewportSize({ width: 760, height: 1000 });
    expect(await overflow()).toEqual([]);
    await shot(page, 'report-print', true);
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.length).toBeGreaterThan(1000);
    expectClean(opened);
    await opened.context.close();
  });

  it('reports a whole experiment: aggregates, timeline and the comparison of its runs', async () => {
    const opened = await openReport(files.experiment);
    const { page } = opened;
    await page.locator('[role="row"][data-run-id]').first().waitFor();
    expect(await page.getByTestId('runs-total').textContent()).toBe('2 runs');
    expect(await page.locator('.brand').textContent()).toContain(`Report: ${REPORT_EXPERIMENT}`);
    await page.getByRole('link', { name: 'Experiments', exact: true }).click();
    await page.getByRole('link', { name: REPORT_EXPERIMENT }).first().click();
    await expect.poll(() => page.getByTestId('experiment-summary').textContent()).toMatch(/2 finished runs/);
    expect(await page.getByTestId('experiment-summary').textContent()).toMatch(/llama \(1\), gpt2 \(1\)|gpt2 \(1\), llama \(1\)/);
    await expect.poll(() => page.locator('[data-testid="segment-shares"] canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('[data-testid="timeline"] canvas').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('open-batch').count()).toBe(0);
    // Every metric the view offers was recorded: choosing one shows its chart, not an error.
    const metrics = await page.getByTestId('metric-select').locator('option').evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value));
    expect(metrics.length).toBeGreaterThan(3);
    for (const metric of metrics) {
      await page.getByTestId('metric-select').selectOption(metric);
      await expect.poll(() => page.locator('[data-testid="timeline"] canvas').count()).toBeGreaterThan(0);
    }
    expect(await page.locator('.notice.error').count()).toBe(0);
    await shot(page, 'report-experiment', true);
    await page.getByRole('link', { name: 'compare runs' }).click();
    await page.getByRole('heading', { name: '2 runs side by side' }).waitFor();
    await page.getByTestId('compare-numbers').waitFor();
    const methods = await page.getByTestId('compare-method').locator('option').evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value));
    for (const method of methods.filter(Boolean)) {
      await page.getByTestId('compare-method').selectOption(method);
      await page.getByTestId('compare-numbers').waitFor();
    }
    expect(await page.locator('.notice.error').count()).toBe(0);
    await shot(page, 'report-compare', true);
    expectClean(opened);
    await opened.context.close();
  });

  it('says so, in the view, when something is not in the report', async () => {
    const opened = await openReport(files.runs, `#/experiments/${REPORT_EXPERIMENT}`);
    const { page } = opened;
    await expect.poll(() => page.locator('.notice.error').first().textContent()).toMatch(/not in this report/);
    expectClean(opened);
    await opened.context.close();
  });

  it('shows markup from prompts and answers as text and runs none of it', async () => {
    const opened = await openReport(files.hostile, '#/runs');
    const { page } = opened;
    const prompt = page.locator(`[role="row"][data-run-id="${runs.hostile}"] .td.prompt a`);
    await prompt.waitFor();
    expect(await prompt.textContent()).toBe(HOSTILE_PROMPT);
    expect(await page.locator(`[role="row"][data-run-id="${runs.hostile}"]`).textContent()).toContain('window.__pwned=3');
    await prompt.click();
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    const chipText = (await page.getByTestId('prompt-chips').locator('.chip').allTextContents()).join('');
    expect(chipText.replace(/\s+/g, '')).toContain('onerror');
    expect(chipText).toContain('<');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(page, 'report-hostile');
    expectClean(opened);
    await opened.context.close();
  });

  it('keeps a screenshot of a report for the docs', async () => {
    const opened = await openReport(files.runs, `#/runs/${runs.llama}`);
    const { page } = opened;
    await expect.poll(() => page.locator('td.cell canvas').count()).toBeGreaterThan(0);
    await page.locator('.heatmap canvas').first().waitFor();
    // The whole run page: header, tokens, heatmap, head grid and statistics.
    const path = await shot(page, 'report', true);
    mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
    copyFileSync(path, join(ROOT, 'docs', 'screenshots', 'report.png'));
    expectClean(opened);
    await opened.context.close();
  });
});
