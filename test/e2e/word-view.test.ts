// The word view in real headless Chromium against web mode, on a run of the llama fixture (real pipeline, the
// llama-2 SentencePiece tokenizer, so words really are split into pieces): the Tokens | Words switch regroups the
// chips (values summed per word), the answer × input heatmap and the head matrices (keys summed, queries
// averaged), states its rule, and stays in the address. Screenshots for the docs: docs/screenshots/run-detail-words.png
// and heatmap-words.png.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ROOT, startWorkbench, type Workbench } from './harness';
import { fixtureFolder } from '../fixtures/models';
import type { RunJson } from '../../shared/run';
import { tokenValues } from '../../shared/token-values';

let workbench: Workbench;
let page: Page;
let run: RunJson;
let second: RunJson;
const PROMPT = 'Unbelievably, the meteorologist forecasts thunderstorms tomorrow afternoon. What should hikers bring?';

beforeAll(async () => {
  const llama = await fixtureFolder('llama');
  workbench = await startWorkbench({ viewport: { width: 1400, height: 1000 } });
  page = workbench.page;
  const ids: string[] = [];
  for (const prompt of [PROMPT, PROMPT.replace('thunderstorms', 'snowstorms')]) {
    const { runId } = await workbench.web.service.createRun({
      task: 'completion',
      modelPath: llama,
      prompt,
      answer: ' Waterproof jackets and headlamps.',
      generation: { maxNewTokens: 16 },
      methods: ['attention', 'saliency', 'grad_x_input'],
      device: 'cpu',
      experiment: 'words',
    });
    ids.push(runId);
  }
  await workbench.web.service.idle();
  [run, second] = await Promise.all(ids.map(async (id) => (await workbench.web.service.getRun(id))!));
}, 300_000);

afterAll(async () => {
  await workbench?.close();
});

/** Word spans of positions [from, to) by hand from the stored word starts (cut at the prompt/answer split). */
function wordsOf(starts: boolean[], from: number, to: number): [number, number][] {
  const spans: [number, number][] = [];
  for (let i = from; i < to; i++) {
    if (starts[i] || i === from) spans.push([i, i + 1]);
    else spans[spans.length - 1][1] = i + 1;
  }
  return spans;
}

function keepScreenshot(path: string, name: string) {
  mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
  copyFileSync(path, join(ROOT, 'docs', 'screenshots', name));
}

/** Trimmed prompt words of a run with their share of its prompt saliency mass, by hand from the stored word starts. */
async function wordShares(of: RunJson): Promise<Map<string, number>> {
  const numbers = await workbench.web.service.compareRuns([of.id], { method: 'saliency' });
  const shares = numbers.runs[0].shares;
  const out = new Map<string, number>();
  for (const [start, end] of wordsOf(of.tokens.wordStarts!, 0, of.promptLength)) {
    const text = of.tokens.text.slice(start, end).join('').trim();
    out.set(text, (out.get(text) ?? 0) + shares.slice(start, end).reduce<number>((a, b) => a + (b ?? 0), 0));
  }
  return out;
}

describe('word view', () => {
  it('stores the tokenizer word starts with the run, and pieces really split words', () => {
    expect(run.status, run.error).toBe('done');
    const starts = run.tokens.wordStarts!;
    expect(starts).toHaveLength(run.tokens.ids.length);
    expect(starts.filter((start) => !start).length).toBeGreaterThan(3);
  });

  it('switches chips, heatmap and heads to words, states the rule and keeps the choice in the address', async () => {
    const starts = run.tokens.wordStarts!;
    const promptWords = wordsOf(starts, 0, run.promptLength);
    const answerWords = wordsOf(starts, run.promptLength, run.tokens.ids.length);
    await page.goto(`${workbench.web.server.url}/#/runs/${run.id}`);
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(await page.getByTestId('prompt-chips').locator('.chip').count()).toBe(run.promptLength);

    await page.getByRole('radio', { name: 'Saliency' }).check();
    await page.getByRole('radio', { name: 'Words' }).check();
    await page.getByRole('heading', { name: 'Words', exact: true }).waitFor();
    expect(page.url()).toContain('unit=words');
    expect(await page.getByTestId('unit-rule').textContent()).toContain("sum of its tokens' values");
    const promptChips = page.getByTestId('prompt-chips').locator('.chip');
    expect(await promptChips.count()).toBe(promptWords.length);
    expect(await page.getByTestId('answer-chips').locator('button').count()).toBe(answerWords.length);
    // Chip texts are the words' tokens joined; values the sums of the token values (whole answer).
    const texts = await promptChips.allTextContents();
    expect(texts.some((text) => text.includes('Unbelievably'))).toBe(true);
    const tokenLevel = tokenValues(run, 'saliency', 'sequence').values;
    const shown = (await promptChips.evaluateAll((chips) => chips.map((chip) => chip.getAttribute('data-value')))).map(Number);
    promptWords.forEach(([start, end], index) => {
      const sum = tokenLevel.slice(start, end).reduce<number>((a, b) => a + (b ?? 0), 0);
      expect(shown[index]).toBeCloseTo(sum, 5);
    });
    expect(await page.locator('section[aria-labelledby="heatmap-heading"]').textContent()).toContain('Each row explains one answer word');
    await expect.poll(() => page.locator('td.cell .loading').count()).toBe(0);

    // An answer word chosen: the focus line names the word.
    await page.getByTestId('answer-chips').locator('button').nth(1).click();
    await expect.poll(() => page.locator('.focus-row').textContent()).toContain('Explaining answer word 1');
    await page.locator('#tokens-heading').scrollIntoViewIfNeeded();
    keepScreenshot(await workbench.screenshot('run-detail-words', { fullPage: true }), 'run-detail-words.png');

    // A head's matrix by words, with the rule.
    await page.locator('td.cell[data-layer="0"][data-head="0"]').click();
    const dialog = page.locator('dialog.head-dialog');
    await dialog.locator('canvas').first().waitFor();
    expect(await dialog.getByTestId('matrix-unit-rule').textContent()).toContain('averaged over the queries');
    keepScreenshot(await workbench.screenshot('heatmap-words'), 'heatmap-words.png');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // The address keeps the unit: a reload shows words again; back to tokens drops it.
    await page.reload();
    await page.getByRole('heading', { name: 'Words', exact: true }).waitFor();
    await page.getByRole('radio', { name: 'Tokens' }).check();
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    expect(page.url()).not.toContain('unit=');
    expect(await page.getByTestId('prompt-chips').locator('.chip').count()).toBe(run.promptLength);
    expect(workbench.problems).toEqual([]);
  });

  it('the experiment view lists the most attributed words and segments, the compare view aligns words', async () => {
    await page.goto(`${workbench.web.server.url}/#/experiments/words`);
    await page.getByTestId('top-tokens').waitFor();
    await page.locator('label', { hasText: 'Method' }).locator('select').selectOption('saliency');
    await page.getByRole('radio', { name: 'Words' }).check();
    await page.getByRole('heading', { name: 'Most attributed words' }).waitFor();
    expect(page.url()).toContain('unit=words');
    // The table's shares: each run's word shares (its tokens' shares summed), averaged over the two runs.
    const [a, b] = await Promise.all([wordShares(run), wordShares(second)]);
    const rows = await page.getByTestId('top-tokens').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]));
    expect(rows.length).toBeGreaterThan(3);
    for (const [text, share] of rows.slice(0, 5)) {
      const expected = ((a.get(text!) ?? 0) + (b.get(text!) ?? 0)) / 2;
      // Shown to 0.1 %: within half of that.
      expect(Math.abs(Number(share!.replace('%', '')) / 100 - expected)).toBeLessThanOrEqual(0.0005 + 1e-9);
    }
    expect(rows.map(([text]) => text)).toContain('Unbelievably,');
    await page.getByRole('radio', { name: 'Segments' }).check();
    await page.getByRole('heading', { name: 'Most attributed segments' }).waitFor();

    await page.goto(`${workbench.web.server.url}/#/compare?runs=${run.id},${second.id}&method=saliency&unit=words`);
    const aligned = page.getByTestId('aligned-tokens');
    await aligned.waitFor();
    const promptWords = wordsOf(run.tokens.wordStarts!, 0, run.promptLength).length;
    // Same words in both prompts but one: every column but the differing word is matched.
    await expect.poll(() => aligned.locator('.column').count()).toBe(promptWords + 1);
    expect(await page.getByTestId('compare-numbers').textContent()).toContain('Top attributed input words');
    expect(workbench.problems).toEqual([]);
  });

  it('groups the source of a seq2seq run by words too', async () => {
    const { runId } = await workbench.web.service.createRun({
      task: 'translation',
      modelPath: await fixtureFolder('t5'),
      prompt: 'Thunderstorms are unbelievably loud.',
      generation: { maxNewTokens: 4 },
      methods: ['attention'],
      device: 'cpu',
    });
    await workbench.web.service.idle();
    const seq2seq = (await workbench.web.service.getRun(runId))!;
    expect(seq2seq.status, seq2seq.error).toBe('done');
    const starts = seq2seq.source!.wordStarts!;
    const sourceWords = wordsOf(starts, 0, starts.length);
    expect(sourceWords.length).toBeLessThan(starts.length);
    await page.goto(`${workbench.web.server.url}/#/runs/${runId}?unit=words`);
    const panel = page.getByTestId('source-panel');
    await panel.waitFor();
    await expect.poll(() => panel.getByTestId('prompt-chips').locator('.chip').count()).toBe(sourceWords.length);
    const texts = await panel.getByTestId('prompt-chips').locator('.chip').allTextContents();
    expect(texts.join('').replace(/·/g, ' ')).toBe(seq2seq.source!.text.join(''));
    expect(workbench.problems).toEqual([]);
  }, 120_000);
});
