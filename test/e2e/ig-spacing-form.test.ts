// The New run form's integrated-gradients spacing in real headless Chromium against web mode and the real
// pipeline on the demo model: the default follows the baseline, an explicit choice reaches the stored run, and a
// supplied answer without its leading space keeps its first word; an unknown-token answer's warning is shown.
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

describe('New run: integrated-gradients spacing', () => {
  it('offers the baseline’s default, sends an explicit uniform spacing, and the run records it', async () => {
    await page.getByRole('link', { name: 'New run', exact: true }).first().click();
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    await page.getByLabel('Message 1', { exact: true }).fill('[DATA]\nemail support: next business day\n[/DATA]\nWhen is email support open?');
    await page.getByLabel('Expected answer').fill('email support: next business day');
    await page.getByLabel('Integrated gradients').check();
    await page.getByLabel('IG steps').fill('4');
    const spacing = page.getByTestId('ig-spacing');
    expect(await spacing.locator('option').first().textContent()).toBe('default (uniform)');
    await page.getByLabel('Baseline').selectOption('zero');
    expect(await spacing.locator('option').first().textContent()).toBe('default (geometric)');
    await page.getByLabel('Rule').selectOption('midpoint');
    await spacing.selectOption('uniform');
    await page.locator('.inline-fields', { has: spacing }).scrollIntoViewIfNeeded();
    await workbench.screenshot('new-run-ig-spacing', { fullPage: true });

    await page.getByTestId('run-button').click();
    const stage = page.getByTestId('progress-stage');
    await expect.poll(async () => (await stage.textContent()) ?? '', { timeout: 300_000 }).toMatch(/^(Done|Failed|Cancelled)/);
    expect(await stage.textContent()).toMatch(/^Done/);
    const href = await page.locator('a.open-run').getAttribute('href');
    const run = (await workbench.web.service.getRun(decodeURIComponent(href!.replace('#/runs/', ''))))!;
    expect(run.integratedGradients).toMatchObject({ rule: 'midpoint', baseline: 'zero', spacing: 'uniform', spacingDefaulted: false });
    expect(run.answerText).toBe(' email support: next business day');
    expect(workbench.problems).toEqual([]);
  });

  it('shows the run warning of an answer that maps to the unknown token', async () => {
    const api = workbench.web.service;
    const { runId } = await api.createRun({ task: 'chat', prompt: 'When is email support open?', answer: 'xyzzy support', generation: { maxNewTokens: 1 }, methods: ['attention'], device: 'cpu' });
    await api.idle();
    await page.goto(`${workbench.web.server.url}/#/runs/${encodeURIComponent(runId)}`);
    const warning = page.getByTestId('run-warning');
    await warning.waitFor();
    expect(await warning.textContent()).toMatch(/maps to the unknown token <unk> \(id 0\) at answer token 1 of 2/);
    await workbench.screenshot('run-warning');
    expect(workbench.problems).toEqual([]);
  });
});
