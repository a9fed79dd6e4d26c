// 10,000 runs in the real store: the list pages its queries and draws only the visible rows, scrolls to the
// end, filters, range-selects with shift-click and deletes. Timings are printed, never asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TASK_TYPES } from '../../shared/run';
import { startWorkbench, type Workbench } from './harness';

const RUNS = 10_000;
let workbench: Workbench;
let page: Page;
let cancelled = 0;

beforeAll(async () => {
  workbench = await startWorkbench({
    seed: ({ store }) => {
      const started = Date.now();
      for (let index = 0; index < RUNS; index++) {
        const id = store.createRun({
          createdAt: new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString(),
          model: { path: `/models/m${index % 4}`, name: `model-${index % 4}`, architecture: index % 2 ? 'gpt2' : 'llama', sha256: 'f'.repeat(64) },
          task: TASK_TYPES[index % TASK_TYPES.length],
          input: { task: 'chat', messages: [{ role: 'user', content: `Question number ${index}: what does row ${index} say?` }] },
          device: { requested: 'cpu', used: 'cpu' },
          generation: { maxNewTokens: 8 },
          methods: index % 3 ? ['attention'] : ['attention', 'saliency'],
          experiment: `batch-${index % 5}`,
          tags: index % 7 ? [] : ['sevens'],
          answerText: `Answer ${index}`,
        });
        if (index % 10 === 0) {
          store.failRun(id, 'stopped by the test', 'cancelled');
          cancelled += 1;
        }
      }
      console.log(`seeded ${RUNS} runs in ${Date.now() - started} ms`);
    },
  });
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

const rows = () => page.locator('[role="row"][data-run-id]');

describe('runs list with 10,000 runs', () => {
  it('draws only the visible rows and scrolls to the last run', async () => {
    const started = Date.now();
    await rows().first().waitFor();
    console.log(`first rows after ${Date.now() - started} ms`);
    expect(await page.getByTestId('runs-total').textContent()).toBe(`${RUNS} runs`);
    expect(await rows().count()).toBeLessThan(80);
    expect(await rows().first().textContent()).toContain(`Question number ${RUNS - 1}:`);

    const viewport = page.getByTestId('runs-viewport');
    const scrolled = Date.now();
    await viewport.evaluate((element) => element.scrollTo({ top: element.scrollHeight }));
    const last = page.locator(`[role="row"][aria-rowindex="${RUNS + 1}"][data-run-id]`);
    await last.waitFor();
    console.log(`last row shown ${Date.now() - scrolled} ms after scrolling to the end`);
    expect(await last.textContent()).toContain('Question number 0:');
    expect(await rows().count()).toBeLessThan(80);
    await viewport.evaluate((element) => element.scrollTo({ top: element.scrollHeight / 2 }));
    await page.locator(`[role="row"][aria-rowindex="${RUNS / 2 + 1}"][data-run-id]`).waitFor();
    await workbench.screenshot('runs-10000');
    await viewport.evaluate((element) => element.scrollTo({ top: 0 }));
  });

  it('filters by status, method and search on the server', async () => {
    await page.getByLabel('Filter by status').selectOption('cancelled');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe(`${cancelled} runs`);
    await page.getByLabel('Filter by status').selectOption('');
    await page.getByLabel('Filter by method').selectOption('saliency');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe(`${Math.ceil(RUNS / 3)} runs`);
    await page.getByLabel('Filter by method').selectOption('');
    await page.getByLabel('Search runs').fill('Question number 4242:');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe('1 run');
    await page.getByLabel('Search runs').fill('');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe(`${RUNS} runs`);
  });

  it('selects a range with shift-click and deletes it', async () => {
    await rows().first().waitFor();
    const checkboxes = rows().locator('input[type="checkbox"]');
    await checkboxes.nth(0).click();
    await checkboxes.nth(4).click({ modifiers: ['Shift'] });
    await page.getByText('5 selected').waitFor();
    const chosen = await rows().evaluateAll((elements) => elements.filter((row) => row.classList.contains('selected')).map((row) => row.getAttribute('data-run-id')));
    expect(chosen).toHaveLength(5);
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe(`${RUNS - 5} runs`);
    for (const id of chosen) expect(await workbench.web.service.getRun(id!)).toBeNull();
    expect(workbench.problems).toEqual([]);
  });
});
