// Interrupted runs in the app (issue 17): a run whose owner process has ended is listed as `interrupted`, with
// its own badge, found by the status filter, and its page says why. The owner is a real process that has exited.
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';

let workbench: Workbench;
let page: Page;
let orphan: string;
let pid: number;

beforeAll(async () => {
  workbench = await startWorkbench({
    seed: ({ store }) => {
      const run = (content: string) =>
        store.createRun({
          model: { path: '/models/demo', name: 'demo', architecture: 'llama', sha256: 'f'.repeat(64) },
          task: 'chat',
          input: { task: 'chat', messages: [{ role: 'user', content }] },
          device: { requested: 'cpu', used: 'cpu' },
          generation: { maxNewTokens: 8 },
          methods: ['attention'],
          experiment: 'support',
        });
      store.completeRun(run('When is phone support open?'), { patch: { answerText: 'mon-fri 9am-6pm' } });
      store.failRun(run('When is email support open?'), 'stopped by the user', 'cancelled');
      orphan = run('When are refunds paid?');
      // Its owner: a process that has already exited, as after a SIGKILL.
      pid = spawnSync(process.execPath, ['-e', '']).pid!;
      const raw = new Database(store.path);
      raw.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(pid, orphan);
      raw.close();
    },
  });
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

const rows = () => page.locator('[role="row"][data-run-id]');

describe('interrupted runs', () => {
  it('are listed with their own badge and found by the status filter', async () => {
    await rows().first().waitFor();
    const badge = page.locator(`[role="row"][data-run-id="${orphan}"] .badge.status-interrupted`);
    expect(await badge.textContent()).toBe('interrupted');
    // Runs in the page (no DOM types on the node side).
    const borderStyle = await badge.evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { borderStyle: string } }).getComputedStyle(element).borderStyle);
    expect(borderStyle).toBe('dashed');
    const options = await page.getByLabel('Filter by status').locator('option').allTextContents();
    expect(options).toEqual(['Any status', 'running', 'done', 'failed', 'cancelled', 'interrupted']);
    await workbench.screenshot('runs-interrupted');
    await page.getByLabel('Filter by status').selectOption('interrupted');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe('1 run');
    expect(await rows().getAttribute('data-run-id')).toBe(orphan);
    await page.getByLabel('Filter by status').selectOption('running');
    await expect.poll(() => page.getByTestId('runs-total').textContent()).toBe('0 runs');
  });

  it('show on the run page why they ended', async () => {
    await page.getByLabel('Filter by status').selectOption('');
    await page.locator(`a[href="#/runs/${orphan}"]`).first().click();
    await page.getByTestId('run-status').waitFor();
    expect(await page.getByTestId('run-status').textContent()).toBe('interrupted');
    expect(await page.getByRole('alert').first().textContent()).toContain(`the process that ran it (process ${pid}) ended without finishing it`);
    await workbench.screenshot('run-interrupted');
    expect(workbench.problems).toEqual([]);
  });
});
