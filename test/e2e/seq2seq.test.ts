// An encoder-decoder run in the workbench, in real headless Chromium against web mode: the run is made by the real
// pipeline on the T5-style fixture, and its page shows the source row of chips and the answer × source heatmap,
// following the chosen method and answer token; the encoder self-attention view; the head grid of each attention kind
// with its drilldown; a comparison with a decoder-only run on the same text; and the run's HTML report opened offline.
// Screenshots: test-results/screenshots/seq2seq-{run,encoder-attention,cross-heads,cross-head-drilldown,compare,report}.png.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { runExplanation } from '../../main/service/pipeline';
import { fixtureFolder } from '../fixtures/models';
import { SCREENSHOT_DIR, startWorkbench, type Workbench } from './harness';
import { buildReport } from '../../main/report/write-report';

let workbench: Workbench;
let page: Page;
let runId = '';
let llamaRunId = '';
const TEXT = 'The garden behind the old house is green and quiet.';

beforeAll(async () => {
  const modelPath = await fixtureFolder('t5');
  const llamaPath = await fixtureFolder('llama');
  workbench = await startWorkbench({
    seed: async (web) => {
      const context = { store: web.store, cacheDir: mkdtempSync(join(tmpdir(), 'seq2seq-e2e-')), demoModelDir: join(tmpdir(), 'seq2seq-e2e-no-demo') };
      const { runId: id } = await runExplanation(
        { modelPath, task: 'summarization', prompt: TEXT, generation: { maxNewTokens: 5 }, methods: ['attention', 'saliency', 'integrated_gradients'], options: { igSteps: 8 }, device: 'cpu' },
        context,
      );
      runId = id;
      // A decoder-only run on the same text, to compare with.
      const llama = await runExplanation(
        { modelPath: llamaPath, task: 'chat', messages: [{ role: 'user', content: TEXT }], generation: { maxNewTokens: 4 }, methods: ['attention', 'saliency'], device: 'cpu' },
        context,
      );
      llamaRunId = llama.runId;
    },
  });
  page = workbench.page;
}, 180_000);

afterAll(async () => {
  await workbench?.close();
});

describe('seq2seq run view', () => {
  it('shows the source chips and the answer × source heatmap, and follows the method and the answer token', async () => {
    await page.goto(`${workbench.web.server.url}/#/runs/${runId}`);
    await page.getByRole('heading', { name: 'Source', exact: true }).waitFor();
    const panel = page.getByTestId('source-panel');
    const sourceChips = panel.locator('[data-testid="prompt-chips"] .chip');
    expect(await sourceChips.count()).toBeGreaterThan(10);
    expect(await sourceChips.first().textContent()).toContain('summar');
    await panel.getByRole('img', { name: 'Cross-attention answer × source heatmap' }).waitFor();
    // One answer token: the chips' titles carry that row's values.
    const before = await sourceChips.nth(3).getAttribute('title');
    await page.getByTestId('answer-chips').locator('.chip').nth(2).click();
    await expect.poll(() => panel.textContent()).toContain('of answer token 2');
    expect(await sourceChips.nth(3).getAttribute('title')).not.toBe(before);
    await workbench.screenshot('seq2seq-run', { fullPage: true });
    await page.getByRole('radio', { name: 'Saliency' }).check();
    await expect.poll(() => panel.getByRole('heading', { level: 3, name: /^Answer × source/ }).textContent()).toBe('Answer × source: Saliency');
    expect(await panel.locator('.heatmap canvas').count()).toBeGreaterThan(0);
    expect(workbench.problems).toEqual([]);
  }, 120_000);

  it('shows the encoder self-attention (mean, rollout, one head) and a head grid per attention kind', async () => {
    await page.goto(`${workbench.web.server.url}/#/runs/${runId}`);
    const encoder = page.getByTestId('encoder-attention');
    await encoder.getByRole('img', { name: /^Encoder self-attention mean over layers and heads/ }).waitFor();
    await encoder.getByRole('combobox', { name: 'Encoder attention to show' }).selectOption('rollout');
    await expect.poll(() => encoder.getByRole('heading', { level: 3 }).textContent()).toBe('Source × source: rollout');
    await encoder.getByRole('combobox', { name: 'Encoder attention to show' }).selectOption('head');
    await encoder.getByRole('combobox', { name: 'Encoder layer' }).selectOption('1');
    await encoder.getByRole('combobox', { name: 'Encoder head' }).selectOption('2');
    await expect.poll(() => encoder.getByRole('heading', { level: 3 }).textContent()).toBe('Source × source: layer 1, head 2');
    expect(await encoder.locator('.heatmap canvas').count()).toBeGreaterThan(0);
    await encoder.scrollIntoViewIfNeeded();
    await workbench.screenshot('seq2seq-encoder-attention');

    const heads = page.getByTestId('attention-heads');
    await heads.scrollIntoViewIfNeeded();
    // Decoder self-attention first: 2 layers × 4 heads, statistics with the previous-token column.
    await heads.getByRole('grid', { name: /^Decoder self-attention heads/ }).waitFor();
    await expect.poll(() => heads.locator('td.cell canvas').count()).toBe(8);
    expect(await heads.locator('table.stats thead th').count()).toBe(5);
    // Cross-attention: its own tensor, paged per layer; no previous-token column.
    await heads.getByRole('radio', { name: 'Cross-attention' }).check();
    await heads.getByRole('grid', { name: /^Cross-attention heads/ }).waitFor();
    await expect.poll(() => heads.locator('td.cell canvas').count()).toBe(8);
    expect(await heads.locator('table.stats thead th').count()).toBe(4);
    await heads.getByRole('heading', { name: 'Attention heads' }).evaluate((element) => element.scrollIntoView());
    await workbench.screenshot('seq2seq-cross-heads');
    await heads.getByRole('gridcell', { name: 'Layer 1, head 3: open the full matrix' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cross-attention, layer 1, head 3' });
    await dialog.getByRole('img', { name: 'Cross-attention, layer 1, head 3' }).waitFor();
    await workbench.screenshot('seq2seq-cross-head-drilldown');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await heads.getByRole('radio', { name: 'Encoder self-attention' }).check();
    await heads.getByRole('grid', { name: /^Encoder self-attention heads/ }).waitFor();
    await expect.poll(() => heads.locator('td.cell canvas').count()).toBe(8);
    expect(workbench.problems).toEqual([]);
  }, 120_000);

  it('compares the seq2seq run with a decoder-only run on the same text, word by word', async () => {
    await page.goto(`${workbench.web.server.url}/#/compare?runs=${runId},${llamaRunId}&method=saliency`);
    const hint = page.getByTestId('compare-alignment');
    await expect.poll(() => hint.textContent()).toContain('joined into words');
    await page.getByText('encoder-decoder · source').waitFor();
    await workbench.screenshot('seq2seq-compare', { fullPage: true });
    expect(workbench.problems).toEqual([]);
  }, 120_000);

  it('writes an HTML report of the seq2seq run that shows the source, the encoder view and every head grid offline', async () => {
    const file = join(workbench.folder, 'seq2seq-report.html');
    writeFileSync(file, await buildReport(workbench.web.service, { runIds: [runId], title: 'Seq2seq report' }));
    const context = await workbench.browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    const requests: string[] = [];
    const problems: string[] = [];
    const document = pathToFileURL(file).href;
    await context.route(() => true, (route) => {
      if (route.request().url() === document) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    const report = await context.newPage();
    report.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    report.on('pageerror', (error) => problems.push(error.message));
    await report.goto(`${document}#/runs/${runId}`);
    await report.getByTestId('source-panel').getByRole('img', { name: 'Cross-attention answer × source heatmap' }).waitFor();
    await report.getByTestId('encoder-attention').getByRole('img', { name: /^Encoder self-attention mean/ }).waitFor();
    const heads = report.getByTestId('attention-heads');
    for (const kind of ['Decoder self-attention', 'Encoder self-attention', 'Cross-attention']) {
      await heads.getByRole('radio', { name: kind }).check();
      await heads.getByRole('grid', { name: new RegExp(`^${kind} heads`) }).waitFor();
      await expect.poll(() => heads.locator('td.cell canvas').count()).toBe(8);
    }
    await report.screenshot({ path: join(SCREENSHOT_DIR, 'seq2seq-report.png'), fullPage: true });
    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
