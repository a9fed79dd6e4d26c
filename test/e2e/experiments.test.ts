// Experiments and compare in real headless Chromium against web mode, on runs made by the real pipeline on two
// fixture models (llama and gpt2 style) through the service's startBatch and rerun: the experiments list
// (rename), the experiment view (head grid drilldown by click and by keyboard, segment shares, top tokens,
// timeline, "Run dataset…" with progress), compare runs (aligned tokens, difference, method switch, "Compare
// selected" from the runs page) and compare two experiments. Screenshots go to test-results/screenshots.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';
import { fixtureFolder } from '../fixtures/models';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

const DATASET = [
  { id: 'hours', system: 'Answer from the data.', messages: [{ role: 'user', content: '[DATA]Phone support is open 9 to 5 on weekdays.[/DATA] When is phone support open?' }], answer: '9 to 5' },
  { id: 'refunds', messages: [{ role: 'user', content: '[DATA]Refunds are paid within 30 days.[/DATA] How long do refunds take?' }], answer: '30 days' },
  { id: 'capital', task: 'completion', prompt: 'The capital of France is', segments: { country: 'France' } },
]
  .map((item) => JSON.stringify(item))
  .join('\n');
const SETTINGS = { generation: { maxNewTokens: 2 }, methods: ['attention', 'saliency'], device: 'cpu' as const };

let workbench: Workbench;
let page: Page;
let llama: string;
let gpt2: string;
/** Run ids of item "hours" on llama and gpt2. */
let pair: [string, string];

beforeAll(async () => {
  [llama, gpt2] = await Promise.all([fixtureFolder('llama'), fixtureFolder('gpt2')]);
  workbench = await startWorkbench({
    viewport: { width: 1400, height: 1000 },
    seed: async (web) => {
      const api = web.service;
      const first = await api.startBatch({ experiment: 'support', modelPath: llama, datasetText: DATASET, settings: SETTINGS });
      const second = await api.startBatch({ experiment: 'support', modelPath: gpt2, datasetText: DATASET, settings: SETTINGS });
      await api.idle();
      await api.rerun({ experiment: 'support', modelPath: llama, to: 'support-rerun', answer: 'generate' });
      await api.idle();
      pair = [first.items[0].runId!, second.items[0].runId!];
    },
  });
  page = workbench.page;
}, 300_000);

afterAll(async () => {
  await workbench?.close();
});

async function open(hash: string) {
  await page.goto(`${workbench.web.server.url}/${hash}`);
}

describe('experiments', () => {
  it('lists experiments with run counts and renames one', async () => {
    await open('#/experiments');
    const rows = page.locator('table.experiments tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    await expect.poll(() => page.getByRole('link', { name: '6 runs of support', exact: true }).count()).toBe(1);
    await workbench.screenshot('experiments-list');
    await page.getByRole('row', { name: /support-rerun/ }).getByRole('button', { name: 'Rename' }).click();
    await page.getByTestId('rename-input').fill('support-generated');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('link', { name: 'support-generated', exact: true }).waitFor();
    expect((await workbench.web.service.listRuns({ experiment: 'support-generated' })).total).toBe(6);
  });

  it('shows the experiment: head grid with drilldown by click and keyboard, shares, tokens, timeline', async () => {
    await open('#/experiments/support');
    await page.getByTestId('experiment-summary').waitFor();
    expect(await page.getByTestId('experiment-summary').textContent()).toMatch(/6 finished runs/);
    await page.getByTestId('head-grid').locator('canvas').first().waitFor();
    expect(await page.getByTestId('statistic-select').inputValue()).toBe('segment');
    expect(await page.getByTestId('segment-select').inputValue()).toBe('data');

    // Click the cell of layer 0, head 0: the grid's plot area starts 44 px from the left and 8 px from the top.
    const box = (await page.getByTestId('head-grid').boundingBox())!;
    const aggregate = await workbench.web.service.aggregateExperiment('support', { segment: 'data' });
    const layers = aggregate.heads.segment!.length;
    const heads = Math.max(...aggregate.heads.segment!.map((row) => row.length));
    const cellWidth = (box.width - 44 - 12) / heads;
    const cellHeight = (box.height - 8 - 34) / layers;
    await page.mouse.click(box.x + 44 + cellWidth / 2, box.y + 8 + cellHeight / 2);
    const drilldown = page.getByTestId('head-drilldown');
    await drilldown.waitFor();
    expect(await drilldown.locator('h3').textContent()).toMatch(/^Layer 0, head 0: .* over 4 runs$/); // "data" is in 4 of 6 runs
    const links = await drilldown.locator('a').evaluateAll((anchors) => anchors.map((anchor) => anchor.getAttribute('href')));
    expect(links.sort()).toEqual(aggregate.heads.segment![0][0].runIds.map((id) => `#/runs/${id}`).sort());
    await workbench.screenshot('experiment', { fullPage: true });

    // Keyboard: the strongest-heads list is reachable with Tab and opens the same drilldown.
    const strongest = page.getByRole('group', { name: /Strongest heads/ }).getByRole('button').first();
    await strongest.focus();
    await page.keyboard.press('Enter');
    expect(await strongest.getAttribute('aria-pressed')).toBe('true');

    await page.getByTestId('statistic-select').selectOption('entropy');
    await expect.poll(async () => (await drilldown.count()) === 0).toBe(true);
    await page.getByTestId('segment-shares').locator('canvas').first().waitFor();
    expect(await page.getByTestId('top-tokens').locator('tbody tr').count()).toBeGreaterThan(3);
    await page.getByTestId('metric-select').selectOption('share:saliency:data');
    await page.getByTestId('timeline').locator('canvas').first().waitFor();
    // Links drill into a run's own view.
    await page.getByRole('link', { name: 'list the runs' }).click();
    await expect.poll(() => page.url()).toContain('#/runs?experiment=support');
  });

  it('runs a dataset from the UI with progress per item', async () => {
    await open('#/experiments/support');
    await page.getByTestId('open-batch').click();
    await page.getByTestId('batch-model').fill(llama);
    await page.getByTestId('batch-dataset').fill(`${JSON.stringify({ id: 'email', messages: [{ role: 'user', content: '[DATA]Email replies come within a day.[/DATA] How fast are email replies?' }], answer: 'a day' })}\n${DATASET.split('\n')[2]}`);
    await page.getByTestId('batch-start').click();
    const progress = page.getByTestId('batch-progress');
    await progress.waitFor();
    await expect.poll(() => progress.textContent(), { timeout: 60_000 }).toMatch(/Finished: 1 new run, 1 skipped, 0 failed/);
    expect(await progress.textContent()).toMatch(/1 finished before, skipped/);
    await expect.poll(() => page.getByTestId('experiment-summary').textContent()).toMatch(/7 finished runs/);
    await workbench.screenshot('experiment-batch');
    await expect.poll(async () => (await workbench.web.service.listRuns({ experiment: 'support' })).total).toBe(7);
  });

  it("lists the experiment's stored batches with their progress, as listBatches has them", async () => {
    await open('#/experiments/support');
    const panel = page.getByTestId('experiment-batches');
    await panel.waitFor();
    const stored = (await workbench.web.service.listBatches()).filter((batch) => batch.experiment.split(', ').includes('support'));
    expect(stored.length).toBeGreaterThanOrEqual(3);
    const rows = panel.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(stored.length);
    const texts = await rows.allTextContents();
    stored.forEach((batch, index) => expect(texts[index]).toContain(`${batch.finished} / ${batch.total}`));
    expect(texts.every((text) => /finished/.test(text))).toBe(true);
  });
});

describe('export', () => {
  it('downloads a self-contained report of the experiment', async () => {
    await open('#/experiments/support');
    await page.getByTestId('experiment-summary').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-experiment').click()]);
    expect(download.suggestedFilename()).toBe('support-report.html');
    const html = readFileSync((await download.path())!, 'utf8');
    expect(html.slice(0, 200).toLowerCase()).toContain('<!doctype html');
    expect(html).toContain('Content-Security-Policy');
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Saved support-report.html');
  });
});

describe('compare', () => {
  it('opens Compare from two selected runs', async () => {
    await open('#/runs');
    const boxes = page.locator('[role="row"][data-run-id] input[type="checkbox"]');
    await boxes.first().waitFor();
    const ids = await page.locator('[role="row"][data-run-id]').evaluateAll((rows) => rows.slice(0, 2).map((row) => row.getAttribute('data-run-id')));
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.getByTestId('compare-selected').click();
    await expect.poll(() => decodeURIComponent(page.url())).toContain(`#/compare?runs=${ids.join(',')}`);
    await page.getByTestId('aligned-tokens').waitFor();
  });

  it('shows two runs of different models aligned, with the difference row, and switches method', async () => {
    await open(`#/compare?runs=${pair.join(',')}`);
    const aligned = page.getByTestId('aligned-tokens');
    await aligned.waitFor();
    expect(await page.getByTestId('compare-method').inputValue()).toBe('saliency');
    const result = await workbench.web.service.compareRuns(pair, { method: 'saliency' });
    expect(await aligned.locator('.column').count()).toBe(result.alignment.columns.length);
    expect(result.alignment.matched).toBeGreaterThan(5);
    const differences = page.getByTestId('difference-chip');
    expect(await differences.count()).toBe(result.alignment.columns.length);
    const numbers = page.getByTestId('compare-numbers');
    expect(await numbers.textContent()).toContain('same'); // answers are supplied: unchanged
    await workbench.screenshot('compare-runs', { fullPage: true });

    const before = await aligned.locator('.column .chip').first().evaluate((chip) => chip.getAttribute('style'));
    await page.getByTestId('compare-method').selectOption('attention.mean');
    await expect.poll(() => page.url()).toContain('method=attention.mean');
    await expect.poll(() => aligned.locator('.column .chip').first().evaluate((chip) => chip.getAttribute('style'))).not.toBe(before);
    expect(await page.getByTestId('compare-method').inputValue()).toBe('attention.mean');
  });

  it('compares two experiments side by side', async () => {
    await open('#/compare?experiments=support,support-generated');
    await expect.poll(() => page.getByTestId('head-grid').count()).toBe(2);
    expect(await page.getByTestId('experiment-shares').locator('tbody tr').count()).toBeGreaterThan(0);
    await page.getByTestId('head-grid').first().locator('canvas').first().waitFor();
    await workbench.screenshot('compare-experiments', { fullPage: true });
  });

  it('left no page errors, CSP violations or remote requests', () => {
    expect(workbench.problems).toEqual([]);
  });
});
