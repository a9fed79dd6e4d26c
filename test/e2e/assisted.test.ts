// Assisted generation through the app in real headless Chromium against web mode: the New run form sends the
// assistant, the pipeline runs it on the demo model and a 2-layer cut of it, the run view marks the drafted
// and accepted tokens, the compare and experiment views show acceptance, and a mismatched pair is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWorkbench, type Workbench } from './harness';
import { demoAssistantFolder } from '../fixtures/assistant-models';
import { fixtureFolder } from '../fixtures/models';

const PROMPT = '[DATA]\nphone support: mon-fri 9am-5pm\nrefunds: within 30 days\nshipping: free over $50\n[/DATA]\nWhen is phone support open?';
const SYSTEM = 'You are a support desk assistant. Answer from the data.';
let workbench: Workbench;
let page: Page;
let assistantDir: string;

beforeAll(async () => {
  assistantDir = await demoAssistantFolder(2);
  workbench = await startWorkbench();
  page = workbench.page;
});

afterAll(async () => {
  await workbench?.close();
});

/** The id of the newest finished run, once there is one more than `before`. */
async function nextFinishedRun(before: number): Promise<string> {
  await expect
    .poll(async () => (await workbench.web.service.listRuns({ status: 'done' })).total, { timeout: 180_000, interval: 500 })
    .toBeGreaterThan(before);
  return (await workbench.web.service.listRuns({ status: 'done', limit: 1 })).rows[0].id;
}

describe('assisted generation in the app', () => {
  let assistedId: string;
  let plainId: string;

  it('runs from the New run form with an assistant model and marks drafted tokens in the run view', async () => {
    await page.goto(`${workbench.web.server.url}/#/new`);
    await page.getByRole('button', { name: 'Demo model' }).click();
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    await page.getByPlaceholder('You are a helpful assistant.').fill(SYSTEM);
    await page.getByLabel('Message 1', { exact: true }).fill(PROMPT);
    await page.getByLabel('Saliency').uncheck();
    await page.getByLabel('Gradient × input').uncheck();
    await page.getByTestId('assistant-model').fill(assistantDir);
    await page.getByTestId('assistant-tokens').fill('3');
    await page.getByLabel('Experiment').fill('assisted');
    await workbench.screenshot('new-run-assistant');
    await page.getByTestId('run-button').click();
    assistedId = await nextFinishedRun(0);

    const run = (await workbench.web.service.getRun(assistedId))!;
    const record = run.generation.assistant!;
    expect(record.draftTokens).toBe(3);
    expect(record.model.path).toBe(assistantDir);
    expect(record.accepted).toBeGreaterThan(0);
    expect(run.tokens.drafted!.filter(Boolean)).toHaveLength(record.accepted);

    await page.goto(`${workbench.web.server.url}/#/runs/${assistedId}`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    const marked = await page.getByTestId('answer-chips').locator('button[data-drafted="true"]').evaluateAll((chips) =>
      chips.map((chip) => Number((chip.getAttribute('aria-label') ?? '').match(/^Answer token (\d+)/)?.[1]) - 1),
    );
    expect(marked).toEqual(run.tokens.drafted!.flatMap((drafted, index) => (drafted ? [index] : [])));
    expect(await page.getByTestId('drafted-legend').textContent()).toContain(`${record.accepted} of ${run.tokens.drafted!.length} answer tokens`);
    expect(await page.getByTestId('run-assistant').textContent()).toContain(`${record.accepted} of ${record.proposed} drafts accepted`);
    await workbench.screenshot('run-detail-assisted');
  });

  it('shows acceptance per run in compare and pooled in the experiment view', async () => {
    const before = (await workbench.web.service.listRuns({ status: 'done' })).total;
    await workbench.web.service.createRun({
      task: 'chat',
      system: SYSTEM,
      messages: [{ role: 'user', content: PROMPT }],
      generation: { maxNewTokens: 16 },
      methods: ['attention'],
      device: 'cpu',
      experiment: 'assisted',
    });
    plainId = await nextFinishedRun(before);
    const assisted = (await workbench.web.service.getRun(assistedId))!;
    expect((await workbench.web.service.getRun(plainId))!.tokens.ids).toEqual(assisted.tokens.ids);

    await page.goto(`${workbench.web.server.url}/#/compare?runs=${assistedId},${plainId}`);
    const row = page.getByTestId('compare-assistant');
    await row.waitFor({ timeout: 60_000 });
    const cells = await row.locator('td').allTextContents();
    expect(cells).toEqual([`${(assisted.generation.assistant!.acceptanceRate * 100).toFixed(1)}%`, '—']);
    await row.scrollIntoViewIfNeeded();
    await workbench.screenshot('compare-assisted');

    await page.goto(`${workbench.web.server.url}/#/experiments/assisted`);
    const notice = page.getByTestId('experiment-assistant');
    await notice.waitFor({ timeout: 60_000 });
    const record = assisted.generation.assistant!;
    expect(await notice.textContent()).toMatch(new RegExp(`in 1 of 2 runs:\\s+${record.accepted} of ${record.proposed} drafts accepted`));
    await workbench.screenshot('experiment-assisted');
  });

  it('refuses an assistant with another vocabulary when the run is asked for, naming both models', async () => {
    const gpt2 = await fixtureFolder('gpt2');
    await page.goto(`${workbench.web.server.url}/#/new`);
    await page.getByRole('button', { name: 'Demo model' }).click();
    await page.locator('.folder-info .badge').first().waitFor({ timeout: 120_000 });
    await page.getByLabel('Message 1', { exact: true }).fill('When is phone support open?');
    await page.getByTestId('assistant-model').fill(gpt2);
    await page.getByTestId('run-button').click();
    const alert = page.locator('.actions [role="alert"]');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    expect(text).toContain(gpt2);
    expect(text).toMatch(/different vocabulary from the main model .*demo/);
  });

  it('loaded nothing remote and logged no errors but the refusal', () => {
    // Chromium logs the refused createRun (HTTP 400, invalid_argument) as a failed resource: that one is expected.
    const refusal = /status of 400 \(Bad Request\)/;
    expect(workbench.problems.filter((problem) => refusal.test(problem))).toHaveLength(1);
    expect(workbench.problems.filter((problem) => !refusal.test(problem))).toEqual([]);
  });
});
