// The views in real headless Chromium against web mode, on runs written straight into the real store:
// runs table, run detail (methods, answer tokens, heatmap hover, head drilldown, tags), long inputs,
// hostile token text, and the keyboard-only path. No page errors, CSP violations or remote requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';
import { storeRun } from './seed';
import { hostileRun, longRun, supportRun } from './runs';

// Code inside page.evaluate runs in the browser; the node-side type check has no DOM library, so the few
// browser globals used there are declared loosely here (this file only).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare const sessionStorage: any;
declare function getComputedStyle(element: unknown): any;

let workbench: Workbench;
let page: Page;

beforeAll(async () => {
  workbench = await startWorkbench({
    seed: (web) => {
      for (const run of [supportRun(), longRun(), hostileRun()]) storeRun(web.store, run);
    },
  });
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

async function openRun(id: string) {
  await page.goto(`${workbench.web.server.url}/#/runs/${id}`);
  await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
}

describe('workbench views', () => {
  it('moves the launch token out of the URL and lists the runs', async () => {
    await page.locator('[role="row"][data-run-id]').first().waitFor();
    expect(page.url()).not.toContain('token=');
    expect(await page.evaluate(() => sessionStorage.getItem('llm-explainer-token'))).toBe(workbench.web.server.token);
    expect(await page.getByTestId('runs-total').textContent()).toBe('3 runs');
    const ids = await page.locator('[role="row"][data-run-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
    expect(ids).toEqual(['run-hostile', 'run-long', 'run-support']);
    await workbench.screenshot('runs');

    await page.getByLabel('Search runs').fill('region');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe('1 run');
    await page.getByLabel('Search runs').fill('');
    await page.getByLabel('Filter by experiment').selectOption('support-desk');
    await expect.poll(() => page.locator('[role="row"][data-run-id]').count()).toBe(1);
    await page.getByLabel('Filter by experiment').selectOption('');
    await page.getByRole('button', { name: 'Model' }).click();
    await expect.poll(() => page.locator('[role="row"][data-run-id]').last().getAttribute('data-run-id')).toBe('run-long');
    await page.getByRole('button', { name: /Model/ }).click();
    await expect.poll(() => page.locator('[role="row"][data-run-id]').first().getAttribute('data-run-id')).toBe('run-long');
    await page.getByRole('button', { name: /Model/ }).click();
    expect(await page.getByRole('columnheader', { name: /Model/ }).getAttribute('aria-sort')).toBe('ascending');
  });

  it('shows a run: chips per method and answer token, heatmap with hover, head drilldown', async () => {
    await openRun('run-support');
    const chips = page.getByTestId('answer-chips').locator('button');
    expect(await chips.count()).toBe(supportRun().tokens.ids.length - supportRun().promptLength);
    // Whole answer first: every prompt chip has a value.
    const emptyPrompt = await page.getByTestId('prompt-chips').locator('.chip.empty').count();
    expect(emptyPrompt).toBe(0);
    await expect.poll(() => page.locator('td.cell .loading').count()).toBe(0);
    await workbench.screenshot('run-detail', { fullPage: true });

    await page.locator('label', { hasText: 'Gradient × input' }).click();
    await expect.poll(() => page.locator('.legend-row .ticks span').first().textContent()).toMatch(/^-/);
    await chips.nth(3).click();
    expect(await chips.nth(3).getAttribute('aria-pressed')).toBe('true');
    // Token 3 cannot see itself or later tokens: those chips carry no value.
    expect(await chips.nth(3).getAttribute('class')).toContain('empty');
    expect(await chips.nth(2).getAttribute('class')).not.toContain('empty');
    await page.keyboard.press('ArrowLeft');
    expect(await chips.nth(2).getAttribute('aria-pressed')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(/^Answer token 3:/);
    await page.locator('#tokens-heading').scrollIntoViewIfNeeded();
    await workbench.screenshot('run-detail-grad-x-input');

    // Integrated gradients state how they were computed and how complete they are.
    await page.locator('label', { hasText: 'Integrated gradients' }).click();
    await expect.poll(() => page.getByTestId('ig-summary').textContent()).toBe(
      'Integrated gradients: 16 steps, gauss-legendre rule, zero baseline. f(input) − f(baseline) = 1; the attributions sum to it within 0.10%.',
    );
    await page.locator('label', { hasText: 'Gradient × input' }).click();

    const heatmap = page.locator('.heatmap').first();
    await heatmap.scrollIntoViewIfNeeded();
    const box = (await heatmap.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.55);
    const tooltip = page.locator('.chart-tooltip');
    await expect.poll(() => tooltip.isVisible()).toBe(true);
    expect(await tooltip.textContent()).toMatch(/answer token \d+: .*input position \d+: .*-?\d/);

    await page.locator('td.cell[data-layer="2"][data-head="1"]').click();
    const dialog = page.locator('dialog.head-dialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe('Layer 2, head 1');
    await dialog.locator('canvas').first().waitFor();
    await workbench.screenshot('head-drilldown');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    const stats = page.locator('.stats tbody tr');
    expect(await stats.count()).toBe(16);
  });

  it('edits tags and notes and saves them through the API', async () => {
    await openRun('run-support');
    const input = page.getByLabel('Add a tag to this run');
    await input.fill('reviewed');
    await input.press('Enter');
    await page.getByLabel('Notes', { exact: true }).fill('Reads the phone line of the data.');
    await page.getByRole('button', { name: 'Save notes and tags' }).click();
    await page.getByText('Saved.').waitFor();
    const stored = await workbench.web.service.getRun('run-support');
    expect(stored?.tags).toEqual(['demo', 'reviewed']);
    expect(stored?.notes).toBe('Reads the phone line of the data.');
  });

  it('keeps a long input usable: zoom slider, wrapped chips, no sideways overflow', async () => {
    await openRun('run-long');
    const promptChips = page.getByTestId('prompt-chips');
    const tokenCount = await promptChips.locator('.chip').count();
    expect(tokenCount).toBeGreaterThan(250);
    const overflow = await promptChips.evaluate((element) => element.scrollWidth - element.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const height = (await promptChips.boundingBox())!.height;
    expect(height).toBeGreaterThan(100);
    await page.locator('#heatmap-heading').scrollIntoViewIfNeeded();
    await workbench.screenshot('long-input');
    // The heatmap draws a zoom window (a slider) for the 300 positions.
    const bodyOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(bodyOverflow).toBeLessThanOrEqual(0);
  });

  it('shows markup in prompts, answers and tags as text and runs none of it', async () => {
    await openRun('run-hostile');
    const prompt = await page.getByTestId('prompt-chips').locator('.chip').allTextContents();
    expect(prompt).toContain('<script>');
    expect(prompt.join('')).toContain('<img src=x onerror="window.__xss=2">');
    expect(await page.getByTestId('answer-chips').locator('button').first().textContent()).toContain('</script>');
    expect(await page.locator('.tag', { hasText: '<i>tag</i>' }).count()).toBe(1);
    expect(await page.evaluate(() => window.__xss)).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
  });

  it('can be used with the keyboard alone', async () => {
    await page.goto(`${workbench.web.server.url}/#/runs`);
    await page.locator('[role="row"][data-run-id]').first().waitFor();
    const focused = () => page.evaluate(() => {
      const element = document.activeElement;
      return { tag: element?.tagName, label: element?.getAttribute('aria-label') ?? element?.textContent?.trim().slice(0, 40), outline: element ? getComputedStyle(element).outlineStyle : '' };
    });
    // Tab from the top reaches the navigation, the search box, the filters and the run links.
    let reachedRunLink = false;
    for (let step = 0; step < 40 && !reachedRunLink; step++) {
      await page.keyboard.press('Tab');
      const now = await focused();
      expect(now.outline).not.toBe('none');
      reachedRunLink = now.tag === 'A' && (await page.evaluate(() => document.activeElement.hash === '#/runs/run-support'));
    }
    expect(reachedRunLink).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();

    // Method radios: Tab into the group, arrows change the method.
    let inMethods = false;
    for (let step = 0; step < 20 && !inMethods; step++) {
      await page.keyboard.press('Tab');
      inMethods = await page.evaluate(() => document.activeElement?.name === 'method');
    }
    expect(inMethods).toBe(true);
    await page.keyboard.press('ArrowRight');
    const method = await page.evaluate(() => document.activeElement.value);
    expect(method).toBe('attention.rollout');

    // The Tokens | Words switch, the Whole answer button, then the answer chips: arrows move between tokens.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.name)).toBe('view-unit');
    await page.keyboard.press('Tab');
    expect((await focused()).label).toBe('Whole answer');
    await page.keyboard.press('Tab');
    expect((await focused()).label).toMatch(/^Answer token 1:/);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    expect((await focused()).label).toMatch(/^Answer token 3:/);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-pressed'))).toBe('true');

    // On to the head grid; Enter opens a head, Escape closes it.
    let inGrid = false;
    for (let step = 0; step < 20 && !inGrid; step++) {
      await page.keyboard.press('Tab');
      inGrid = await page.evaluate(() => document.activeElement?.getAttribute('role') === 'gridcell');
    }
    expect(inGrid).toBe(true);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog.head-dialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe('Layer 1, head 1');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('offers the New run form: demo folder facts, devices with reasons, method options', async () => {
    await page.goto(`${workbench.web.server.url}/#/new`);
    // The seeded runs name folders that do not exist here: the most recent one is offered and flagged.
    await page.locator('.folder-info .error-text').waitFor();
    await page.getByRole('button', { name: 'Demo model' }).click();
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    expect(await page.locator('.folder-info').textContent()).toMatch(/llama.*layers ×.*heads/s);
    // Devices come from listDevices: CPU is always available; unavailable ones are disabled with a reason.
    const cpu = page.locator('.device', { hasText: 'cpu' }).locator('input');
    expect(await cpu.isDisabled()).toBe(false);
    const devices = await workbench.web.service.listDevices();
    for (const device of devices.filter((entry) => !entry.available)) {
      const option = page.locator('.device', { hasText: device.device });
      expect(await option.locator('input').isDisabled()).toBe(true);
      if (device.reason) expect(await option.textContent()).toContain(device.reason);
    }
    expect(await page.getByRole('button', { name: 'Pick…' }).count()).toBe(0);
    await page.getByLabel('Integrated gradients').check();
    await page.getByLabel('IG steps').waitFor();
    await page.getByRole('button', { name: 'Add message' }).click();
    expect(await page.getByLabel('Message 2', { exact: true }).count()).toBe(1);
    await page.getByRole('button', { name: 'Remove message 2' }).click();
    // Run stays disabled until there is a prompt.
    expect(await page.getByTestId('run-button').isDisabled()).toBe(true);
    await page.getByLabel('Message 1', { exact: true }).fill('When is phone support open?');
    expect(await page.getByTestId('run-button').isDisabled()).toBe(false);
    await workbench.screenshot('new-run-form', { fullPage: true });
  });

  it('loaded nothing remote and broke no content-security rule', async () => {
    const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    expect(policy).toContain("script-src 'self'");
    expect(workbench.problems).toEqual([]);
  });
});
