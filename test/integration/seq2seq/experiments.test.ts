// Encoder-decoder runs in experiments and comparisons, through the real pipeline and a real store: aggregation
// over source segments (the user's text and the task-prefix "template"), checked against the shares computed
// directly from each run's source-side saliency; cross-attention head statistics in the head grid; and a
// comparison of a T5-style run with a llama-style run on the same text, aligned by words.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { tokenKey } from '../../../shared/token-alignment';
import { runExplanation } from '../../../main/service/pipeline';
import { aggregateExperiment } from '../../../main/experiments/aggregate';
import { compareRuns } from '../../../main/service/compare';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';

const TEXTS = ['The garden behind the old house is green and quiet.', 'Birds sing in the garden every morning.'];
let temp: TempStore;
const t5Runs: RunJson[] = [];
let llamaRun: RunJson;

async function explain(request: Partial<ExplainRequest> & Pick<ExplainRequest, 'modelPath'>): Promise<RunJson> {
  const full: ExplainRequest = { task: 'summarization', generation: { maxNewTokens: 4 }, methods: ['attention', 'saliency'], device: 'cpu', experiment: 'mixed', ...request };
  return (await runExplanation(full, { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') })).run;
}

beforeAll(async () => {
  temp = tempStore();
  const t5 = await fixtureFolder('t5');
  for (const prompt of TEXTS) t5Runs.push(await explain({ modelPath: t5, prompt }));
  llamaRun = await explain({ modelPath: await fixtureFolder('llama'), task: 'chat', messages: [{ role: 'user', content: TEXTS[0] }] });
}, 300_000);
afterAll(() => temp?.dispose());

/** Source positions of the user's text: tokens that lie after the task prefix and are not </s>, from the texts alone. */
function userPositions(run: RunJson): number[] {
  const prefix = run.source!.rendered!.length - (run.input.prompt ?? '').length;
  const positions: number[] = [];
  let offset = 0;
  run.source!.text.forEach((text, s) => {
    const start = offset;
    offset += text.length;
    if (text !== '</s>' && start >= prefix - 1 && text.trim() !== '') positions.push(s);
  });
  return positions;
}

describe('seq2seq runs in experiments', () => {
  it('aggregates saliency shares per source segment as the runs’ own source gradients give them', () => {
    const aggregate = aggregateExperiment(temp.store, 'mixed', { model: t5Runs[0].model.path, methods: ['saliency'] });
    expect(aggregate.runIds).toEqual(t5Runs.map((run) => run.id));
    expect(aggregate.segments).toEqual(expect.arrayContaining(['user', 'template']));
    const cell = aggregate.segmentShares.saliency!.user;
    for (const run of t5Runs) {
      const mass = run.source!.ids.map((_, s) => run.gradient!.source!.saliency!.reduce((sum, row) => sum + Math.abs(row[s]), 0));
      const total = mass.reduce((a, b) => a + b, 0);
      const expected = userPositions(run).reduce((sum, s) => sum + mass[s], 0) / total;
      expect(cell.perRun.find((entry) => entry.runId === run.id)!.share).toBeCloseTo(expected, 5);
    }
    // Top tokens are source texts; the head grid holds the cross-attention heads' statistics.
    expect(aggregate.topTokens.saliency!.every((entry) => t5Runs.some((run) => run.source!.text.map((text) => text.trim()).includes(entry.text)))).toBe(true);
    const stats = t5Runs.map((run) => run.attention!.cross!.headStats!.entropy[1][2]);
    expect(aggregate.heads.entropy![1][2].mean).toBeCloseTo((stats[0] + stats[1]) / 2, 6);
    // Attention to the "user" segment per head: the mean over answer rows of the cross-attention on its positions.
    const segmentCell = aggregateExperiment(temp.store, 'mixed', { model: t5Runs[0].model.path, segment: 'user' }).heads.segment![0][3];
    const perRun = t5Runs.map((run) => {
      const rows = run.attention!.cross!.data[0][3];
      return rows.reduce((sum, row) => sum + userPositions(run).reduce((s, p) => s + row[p], 0), 0) / rows.length;
    });
    expect(segmentCell.mean).toBeCloseTo((perRun[0] + perRun[1]) / 2, 3); // float16 tensors
  });

  it('compares a seq2seq run with a decoder-only run on the same text by words', () => {
    const result = compareRuns(temp.store, [t5Runs[0].id, llamaRun.id], 'saliency');
    expect(result.alignedBy).toBe('words');
    expect(result.runs[0].side).toBe('source');
    expect(result.runs[1].side).toBeUndefined();
    // Every word of the text is a matched column holding that word in both runs.
    const words = TEXTS[0].split(' ');
    const matched = result.alignment.columns.filter((column) => column.every((p) => p !== null));
    const matchedWords = matched.map(([a]) => tokenKey(result.runs[0].promptTokens[a!]));
    expect(matchedWords).toEqual(expect.arrayContaining(words));
    for (const [a, b] of matched) expect(tokenKey(result.runs[1].promptTokens[b!])).toBe(tokenKey(result.runs[0].promptTokens[a!]));
    // A word's share is the sum of its tokens' shares: the seq2seq shares come from the source saliency.
    const run = t5Runs[0];
    const mass = run.source!.ids.map((_, s) => run.gradient!.source!.saliency!.reduce((sum, row) => sum + Math.abs(row[s]), 0));
    const total = mass.reduce((x, y) => x + y, 0);
    result.runs[0].wordSpans!.forEach(([start, end], w) => expect(result.runs[0].shares[w]).toBeCloseTo(mass.slice(start, end).reduce((x, y) => x + y, 0) / total, 6));
    expect(result.runs[1].shares.reduce((x, y) => x! + y!, 0)).toBeCloseTo(1, 6);
    expect(result.difference).toHaveLength(result.alignment.columns.length);
    // Two seq2seq runs compare by tokens, over their sources.
    const same = compareRuns(temp.store, t5Runs.map((r) => r.id), 'saliency');
    expect(same.alignedBy).toBe('tokens');
    expect(same.runs[0].promptTokens).toEqual(t5Runs[0].source!.text);
  });
});
