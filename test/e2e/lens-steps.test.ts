// Issue 16 run-view cards in real headless Chromium against web mode: a demo-model run made with attention,
// logit_lens and step_scores shows the step-scores table (one row per answer token) and the logit-lens heatmap
// (L + 1 layers × answer tokens, switchable to rank), with screenshots of both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { RunJson } from '../../shared/run';
import { startWorkbench, type Workbench } from './harness';

let workbench: Workbench;
let page: Page;
let run: RunJson;

beforeAll(async () => {
  workbench = await startWorkbench();
  page = workbench.page;
  const { runId } = await workbench.web.service.createRun({
    task: 'chat',
    messages: [{ role: 'user', content: 'When is phone support open?' }],
    generation: { maxNewTokens: 6 },
    methods: ['attention', 'logit_lens', 'step_scores'],
    device: 'cpu',
  });
  await workbench.web.service.idle();
  run = (await workbench.web.service.getRun(runId))!;
}, 300_000);

afterAll(async () => {
  await workbench?.close();
});

/**
 * What the chart's tooltips name along a line of hover points: the distinct matches of `pattern` (e.g. the layers
 * down one column). Half-row steps visit every cell on the line at least once.
 */
async function tooltipsAlong(points: { x: number; y: number }[], pattern: RegExp): Promise<Set<string>> {
  const tooltip = page.getByTestId('logit-lens').locator('.chart-tooltip');
  const seen = new Set<string>();
  for (const { x, y } of points) {
    await page.mouse.move(x, y);
    await page.waitForTimeout(60);
    if (!(await tooltip.isVisible())) continue;
    const match = (await tooltip.textContent())?.match(pattern);
    if (match) seen.add(match[0]);
  }
  return seen;
}

describe('logit lens and step scores cards', () => {
  it('the step-scores table has one row per answer token', async () => {
    expect(run.status, run.error).toBe('done');
    const answerLength = run.tokens.ids.length - run.promptLength;
    expect(run.steps!.logprob).toHaveLength(answerLength);
    await page.goto(`${workbench.web.server.url}/#/runs/${run.id}`);
    const card = page.getByTestId('step-scores');
    await card.waitFor({ timeout: 60_000 });
    await expect.poll(() => card.locator('tbody tr').count()).toBe(answerLength);
    const firstLogprob = Number(await card.locator('tbody tr').first().locator('td').nth(1).textContent());
    expect(firstLogprob).toBeCloseTo(run.steps!.logprob[0], 3);
    await page.getByRole('heading', { name: 'Step scores' }).scrollIntoViewIfNeeded();
    await workbench.screenshot('run-detail-step-scores');
  });

  it('the logit-lens heatmap has L + 1 layers × answer tokens and switches to rank', async () => {
    const lens = run.logitLens!;
    const answerLength = run.tokens.ids.length - run.promptLength;
    expect(lens.logprob).toHaveLength(lens.layers + 1);
    const card = page.getByTestId('logit-lens');
    await card.waitFor({ timeout: 60_000 });
    const chart = card.getByTestId('logit-lens-chart');
    await expect.poll(() => chart.locator('canvas, svg').count()).toBeGreaterThan(0);
    await expect.poll(() => chart.getAttribute('aria-label')).toContain('log-probability');
    await card.getByRole('radio', { name: 'Rank' }).check();
    await expect.poll(() => chart.getAttribute('aria-label')).toContain('rank (log scale)');
    await expect.poll(() => card.getByRole('img', { name: /log₁₀\(rank \+ 1\)/ }).count()).toBe(1);
    await card.getByRole('radio', { name: 'Log-probability' }).check();
    // Hover down the last column and along the top row: the tooltips name every layer and every answer token.
    await card.scrollIntoViewIfNeeded();
    const box = (await chart.boundingBox())!;
    const right = box.x + box.width - 16;
    const top = box.y + 12;
    const down = Array.from({ length: Math.floor((box.height - 12) / 5) }, (_, k) => ({ x: right, y: top + k * 5 }));
    const layers = await tooltipsAlong(down, /layer \d+/);
    expect([...layers].sort()).toEqual(Array.from({ length: lens.layers + 1 }, (_, layer) => `layer ${layer}`).sort());
    const across = Array.from({ length: Math.floor((box.width - 16) / 10) }, (_, k) => ({ x: right - k * 10, y: top }));
    const tokens = await tooltipsAlong(across, /answer token \d+/);
    expect(tokens.size).toBe(answerLength);
    expect(await card.locator('.chart-tooltip').textContent()).toMatch(/log p = -?[\d.]+.*rank \d+.*top token: \S/);
    await page.mouse.move(box.x + box.width - 16, top);
    await expect.poll(() => card.locator('.chart-tooltip').textContent()).toContain(`layer ${lens.layers}`);
    await workbench.screenshot('run-detail-logit-lens');
    expect(workbench.problems).toEqual([]);
  });
});
