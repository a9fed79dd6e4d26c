// Issue 16 views in real headless Chromium against web mode: two demo-model runs with occlusion and faithfulness
// curves; the run view plots one deletion and one insertion line per attribution method (and the random
// control) and ranks them by AOPC, occlusion colours the token chips, the experiment view ranks methods by mean AOPC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';

const PROMPT = '[DATA]\nphone support: mon-fri 9am-5pm\nrefunds: within 30 days\n[/DATA]\nWhen is phone support open?';
const METHODS = ['attention', 'saliency', 'grad_x_input', 'step_scores', 'logit_lens', 'occlusion', 'faithfulness'];
let workbench: Workbench;
let page: Page;
const runIds: string[] = [];

beforeAll(async () => {
  workbench = await startWorkbench();
  page = workbench.page;
  for (const question of [PROMPT, PROMPT.replace('phone support', 'refunds')]) {
    const { runId } = await workbench.web.service.createRun({
      task: 'chat',
      messages: [{ role: 'user', content: question }],
      generation: { maxNewTokens: 8 },
      methods: METHODS,
      device: 'cpu',
      experiment: 'faithfulness',
    });
    runIds.push(runId);
  }
  await workbench.web.service.idle();
}, 300_000);

afterAll(async () => {
  await workbench?.close();
});

describe('faithfulness views', () => {
  it('the run view plots deletion and insertion curves, one line per method, and the AOPC table', async () => {
    const run = (await workbench.web.service.getRun(runIds[0]))!;
    expect(run.status, run.error).toBe('done');
    const methods = Object.keys(run.faithfulness!);
    expect(methods).toEqual(expect.arrayContaining(['attention.mean', 'attention.rollout', 'saliency', 'grad_x_input', 'occlusion', 'random']));
    await page.goto(`${workbench.web.server.url}/#/runs/${runIds[0]}`);
    const panel = page.getByTestId('faithfulness');
    await panel.waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('aopc-table').locator('tbody tr').count()).toBe(methods.length);
    // Each chart's legend names every method.
    for (const chart of ['deletion-chart', 'insertion-chart']) {
      await expect.poll(async () => (await page.getByTestId(chart).locator('canvas').count()) > 0 || (await page.getByTestId(chart).locator('svg').count()) > 0).toBe(true);
    }
    const firstRow = await page.getByTestId('aopc-table').locator('tbody tr').first().locator('td').first().textContent();
    const best = Math.max(...methods.filter((m) => m !== 'random').map((m) => run.faithfulness![m].aopcDeletion));
    expect(Number(firstRow)).toBeCloseTo(best, 2);
    await panel.scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await workbench.screenshot('run-detail-faithfulness');
  });

  it('occlusion colours the token chips like the other methods', async () => {
    await page.goto(`${workbench.web.server.url}/#/runs/${runIds[0]}`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    await page.getByRole('radio', { name: 'Occlusion' }).check();
    await page.getByRole('heading', { name: 'Answer × input: Occlusion' }).waitFor();
    await workbench.screenshot('run-detail-occlusion');
  });

  it('the experiment view ranks methods by mean AOPC over its runs', async () => {
    await page.goto(`${workbench.web.server.url}/#/experiments/faithfulness`);
    const ranking = page.getByTestId('faithfulness-ranking');
    await ranking.waitFor({ timeout: 60_000 });
    const aggregate = await workbench.web.service.aggregateExperiment('faithfulness');
    expect(aggregate.faithfulness![0].runIds).toHaveLength(2);
    const names = await ranking.locator('tbody th').allTextContents();
    expect(names).toHaveLength(aggregate.faithfulness!.length);
    expect(names[names.length - 1] === 'Random order (control)' || names.includes('Random order (control)')).toBe(true);
    await ranking.scrollIntoViewIfNeeded();
    await workbench.screenshot('experiment-faithfulness');
    expect(workbench.problems).toEqual([]);
  });
});
