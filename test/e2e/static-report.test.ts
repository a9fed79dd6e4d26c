// The renderer bundle with runs embedded in the page (the static client that HTML reports reuse, issue 6):
// the same views, read-only, with no API server at all. The page is served from out/renderer through a
// routed origin; any request that is not a bundle file fails the test.
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, RENDERER_DIR, SCREENSHOT_DIR, ensureRendererBuilt } from './harness';
import { STATIC_DATA_ELEMENT_ID, STATIC_DATA_SCHEMA, embedStaticData } from '../../shared/static-api';
import { hostileRun, supportRun } from './runs';

const ORIGIN = 'http://report.invalid';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' };
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  ensureRendererBuilt();
  const data = embedStaticData({ schema: STATIC_DATA_SCHEMA, title: 'Support desk report', runs: [supportRun(), hostileRun()] });
  const html = readFileSync(join(RENDERER_DIR, 'index.html'), 'utf8').replace(
    '<div id="app"></div>',
    `<div id="app"></div>\n<script type="application/json" id="${STATIC_DATA_ELEMENT_ID}">${data}</script>`,
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== ORIGIN) {
      problems.push(`request outside the report: ${url.href}`);
      return route.abort();
    }
    if (url.pathname === '/' || url.pathname === '/index.html') return route.fulfill({ status: 200, contentType: 'text/html', body: html });
    if (url.pathname.startsWith('/assets/')) {
      return route.fulfill({ status: 200, contentType: TYPES[extname(url.pathname)] ?? 'application/octet-stream', body: readFileSync(join(RENDERER_DIR, url.pathname)) });
    }
    problems.push(`unexpected request: ${url.href}`);
    return route.abort();
  });
  page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${ORIGIN}/`);
});

afterAll(async () => {
  await browser?.close();
});

describe('static report client', () => {
  it('lists the embedded runs read-only', async () => {
    await page.locator('[role="row"][data-run-id]').first().waitFor();
    expect(await page.getByTestId('runs-total').textContent()).toBe('2 runs');
    expect(await page.getByRole('link', { name: 'New run' }).count()).toBe(0);
    expect(await page.locator('.brand').textContent()).toContain('Support desk report');
  });

  it('shows a run with its heads from the embedded attention data and no editing', async () => {
    await page.goto(`${ORIGIN}/#/runs/run-support`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    await expect.poll(() => page.locator('td.cell canvas').count()).toBe(16);
    await page.locator('label', { hasText: 'Saliency' }).click();
    await page.getByTestId('answer-chips').locator('button').nth(2).click();
    expect(await page.getByRole('button', { name: 'Save notes and tags' }).count()).toBe(0);
    expect(await page.getByLabel('Add a tag to this run').count()).toBe(0);
    await page.locator('td.cell[data-layer="3"][data-head="2"]').click();
    await page.locator('dialog.head-dialog canvas').first().waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'static-report.png') });
    await page.keyboard.press('Escape');
  });

  it('keeps embedded markup as text', async () => {
    await page.goto(`${ORIGIN}/#/runs/run-hostile`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(await page.getByTestId('prompt-chips').locator('.chip').allTextContents()).toContain('<script>');
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(problems).toEqual([]);
  });
});
