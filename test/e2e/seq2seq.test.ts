// An encoder-decoder run in the workbench, in real headless Chromium against web mode: the run is made by the real
// pipeline on the T5-style fixture, and its page shows the source row of chips and the answer × source heatmap,
// following the chosen method and answer token. Screenshot: test-results/screenshots/seq2seq-run.png.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { runExplanation } from '../../main/service/pipeline';
import { fixtureFolder } from '../fixtures/models';
import { startWorkbench, type Workbench } from './harness';

let workbench: Workbench;
let page: Page;
let runId = '';

beforeAll(async () => {
  const modelPath = await fixtureFolder('t5');
  workbench = await startWorkbench({
    seed: async (web) => {
      const { runId: id } = await runExplanation(
        { modelPath, task: 'summarization', prompt: 'The garden behind the old house is green and quiet.', generation: { maxNewTokens: 5 }, methods: ['attention', 'saliency', 'integrated_gradients'], options: { igSteps: 8 }, device: 'cpu' },
        { store: web.store, cacheDir: mkdtempSync(join(tmpdir(), 'seq2seq-e2e-')), demoModelDir: join(tmpdir(), 'seq2seq-e2e-no-demo') },
      );
      runId = id;
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
});
