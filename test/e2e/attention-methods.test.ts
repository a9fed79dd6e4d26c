// Attention norm and value zeroing in real headless Chromium against web mode and the real pipeline on the
// demo model: chosen in the New run form (which lists the value-zeroing stage), then read in the run view's
// method chooser as token chips and the answer × input heatmap; screenshots of both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';
import { METHOD_CATALOG } from '../../shared/method-catalog';

let workbench: Workbench;
let page: Page;

beforeAll(async () => {
  workbench = await startWorkbench();
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

describe('run view: attention norm and value zeroing', () => {
  it('runs both from the New run form and shows each as chips and a heatmap', async () => {
    await page.getByRole('link', { name: 'New run', exact: true }).first().click();
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    await page.getByLabel('Message 1', { exact: true }).fill('[DATA]\nphone support: mon-fri 9am-6pm\nemail support: next business day\n[/DATA]\nWhen is email support open?');
    await page.getByLabel('Expected answer').fill('email support: next business day');
    const box = (id: string) => page.locator(`.methods input[value="${id}"]`);
    // Only the two methods under test: every box the form ticks by default (the catalog's defaultSelected) is cleared.
    for (const id of METHOD_CATALOG.filter((entry) => entry.common).map((entry) => entry.id)) if (await box(id).isChecked()) await box(id).uncheck();
    await box('attention_norm').check();
    await box('value_zeroing').check();
    expect(await page.getByText('Value zeroing', { exact: true }).count()).toBeGreaterThan(0);
    await page.getByTestId('run-button').click();
    const stage = page.getByTestId('progress-stage');
    await expect.poll(async () => (await stage.textContent()) ?? '', { timeout: 300_000 }).toMatch(/^(Done|Failed|Cancelled)/);
    expect(await stage.textContent()).toMatch(/^Done/);
    const href = await page.locator('a.open-run').getAttribute('href');
    const run = (await workbench.web.service.getRun(decodeURIComponent(href!.replace('#/runs/', ''))))!;
    expect(run.methods).toEqual(['attention_norm', 'value_zeroing']);
    expect(run.valueZeroing!.cost.sequences).toBe(run.valueZeroing!.layers * (run.tokens.ids.length - 1));

    await page.goto(`${workbench.web.server.url}/${href}`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    const chooser = page.getByRole('group', { name: 'Explanation method' });
    expect((await chooser.locator('label').allTextContents()).map((text) => text.trim())).toEqual(['Attention norm (mean over layers and heads)', 'Value zeroing (mean over layers)']);
    for (const [label, shot] of [
      ['Attention norm (mean over layers and heads)', 'run-detail-attention-norm'],
      ['Value zeroing (mean over layers)', 'run-detail-value-zeroing'],
    ] as const) {
      await chooser.getByText(label, { exact: true }).click();
      const heading = page.locator('#heatmap-heading');
      await expect.poll(() => heading.textContent()).toBe(`Answer × input: ${label}`);
      await workbench.screenshot(shot, { fullPage: true });
    }
    // Attention norm per layer and head: the heads card pages its own tensor; its cells are not probabilities, so
    // no head statistics.
    const heads = page.getByTestId('attention-heads');
    await heads.scrollIntoViewIfNeeded();
    await heads.getByRole('grid').waitFor();
    await expect.poll(() => heads.locator('td.cell canvas').count()).toBe(run.attentionNorm!.layers * run.attentionNorm!.heads);
    expect(await heads.locator('table.stats').count()).toBe(0);
    await heads.getByRole('gridcell', { name: 'Layer 1, head 2: open the full matrix' }).click();
    const dialog = page.getByRole('dialog', { name: 'Layer 1, head 2' });
    await dialog.getByRole('img', { name: 'Layer 1, head 2' }).waitFor();
    expect(await dialog.textContent()).toContain('Kobayashi et al. 2020');
    await workbench.screenshot('run-detail-attention-norm-heads');
    expect(workbench.problems).toEqual([]);
  });
});
