// The whole flow through the UI in real headless Chromium against web mode with a real database and the
// real engine pipeline: create a run on the built-in demo model, watch its progress stages, open it, switch
// method and answer token, drill into a head, tag it. Screenshots of each view go to test-results/screenshots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';

let workbench: Workbench;
let page: Page;

beforeAll(async () => {
  workbench = await startWorkbench();
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

describe('workbench flow on the demo model', () => {
  let runId = '';

  it('creates a run through the New run form and shows its progress stages', async () => {
    await page.getByRole('link', { name: 'New run', exact: true }).first().click();
    // With no runs yet the folder defaults to the built-in demo model; its facts appear once inspected.
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    expect(await page.locator('.folder-info').textContent()).toContain('llama');
    await page.getByPlaceholder('You are a helpful assistant.').fill('You are a support desk assistant. Answer from the data.');
    await page.getByLabel('Message 1', { exact: true }).fill('[DATA]\nphone support: mon-fri 9am-6pm\nemail support: replies within 24 hours\n[/DATA]\nWhen is phone support open?');
    await page.getByLabel('Max new tokens').fill('8');
    await page.getByLabel('Integrated gradients').check();
    await page.getByLabel('IG steps').fill('8');
    await page.getByLabel('Add a tag to the new run').fill('e2e');
    await page.getByLabel('Add a tag to the new run').press('Enter');
    await workbench.screenshot('new-run', { fullPage: true });

    const seen = new Set<string>();
    const stage = page.getByTestId('progress-stage');
    await page.getByTestId('run-button').click();
    await stage.waitFor();
    const deadline = Date.now() + 300_000;
    let shotDuringProgress = false;
    while (Date.now() < deadline) {
      const text = (await stage.textContent()) ?? '';
      seen.add(text.split(' — ')[0].trim());
      if (!shotDuringProgress && /Generate|Attention|Gradients/.test(text)) {
        await page.locator('.progress').scrollIntoViewIfNeeded();
        await workbench.screenshot('new-run-progress');
        shotDuringProgress = true;
      }
      if (/^(Done|Failed|Cancelled)/.test(text)) break;
      await page.waitForTimeout(50);
    }
    expect([...seen].pop()).toBe('Done');
    // Stages arrive in order; fast ones may pass between two polls, so at least one working stage was seen.
    expect([...seen].some((name) => ['Load model', 'Generate', 'Attention', 'Gradients', 'Store'].includes(name))).toBe(true);
    expect(await page.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
    const href = await page.locator('a.open-run').getAttribute('href');
    runId = decodeURIComponent(href!.replace('#/runs/', ''));
    await page.locator('a.open-run').click();
  });

  it('opens the run and switches method and answer token', async () => {
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(await page.getByTestId('run-status').textContent()).toBe('done');
    await expect.poll(() => page.locator('td.cell .loading').count(), { timeout: 60_000 }).toBe(0);
    await workbench.screenshot('e2e-run-detail', { fullPage: true });
    const run = await workbench.web.service.getRun(runId);
    expect(run?.methods).toEqual(expect.arrayContaining(['attention', 'saliency', 'grad_x_input', 'integrated_gradients']));
    const answerLength = run!.tokens.ids.length - run!.promptLength;
    const chips = page.getByTestId('answer-chips').locator('button');
    expect(await chips.count()).toBe(answerLength);

    await page.locator('label', { hasText: 'Saliency' }).click();
    const target = Math.min(1, answerLength - 1);
    await chips.nth(target).click();
    expect(await chips.nth(target).getAttribute('aria-pressed')).toBe('true');
    // The prompt chips now show the saliency row of that token, as stored.
    const shown = await page.getByTestId('prompt-chips').locator('.chip').evaluateAll((elements) => elements.map((element) => Number(element.getAttribute('data-value'))));
    const stored = run!.gradient!.saliency![target].slice(0, run!.promptLength);
    shown.forEach((value, index) => expect(value).toBeCloseTo(stored[index], 5));
    if (answerLength > 2) {
      await page.keyboard.press('ArrowRight');
      expect(await chips.nth(target + 1).getAttribute('aria-pressed')).toBe('true');
    }
    await page.locator('label', { hasText: 'Gradient × input' }).click();
    await page.locator('#tokens-heading').scrollIntoViewIfNeeded();
    await workbench.screenshot('e2e-run-detail-grad-x-input');
  });

  it('drills into a head', async () => {
    const cell = page.locator('td.cell[data-layer="0"][data-head="1"]');
    await cell.scrollIntoViewIfNeeded();
    await page.locator('td.cell canvas').first().waitFor();
    await cell.click();
    const dialog = page.locator('dialog.head-dialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe('Layer 0, head 1');
    await dialog.locator('canvas').first().waitFor();
    await workbench.screenshot('e2e-head-drilldown');
    await dialog.getByRole('button', { name: 'Close the head view' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('edits a tag and lists the run', async () => {
    const input = page.getByLabel('Add a tag to this run');
    await input.scrollIntoViewIfNeeded();
    await input.fill('checked');
    await input.press('Enter');
    await page.getByRole('button', { name: 'Remove tag e2e' }).click();
    await page.getByRole('button', { name: 'Save notes and tags' }).click();
    await page.getByText('Saved.').waitFor();
    expect((await workbench.web.service.getRun(runId))?.tags).toEqual(['checked']);

    await page.getByRole('link', { name: 'Runs', exact: true }).click();
    await page.locator(`[role="row"][data-run-id="${runId}"]`).waitFor();
    expect(await page.locator(`[role="row"][data-run-id="${runId}"] .tags`).textContent()).toContain('checked');
    await workbench.screenshot('e2e-runs');
    expect(workbench.problems).toEqual([]);
  });
});
