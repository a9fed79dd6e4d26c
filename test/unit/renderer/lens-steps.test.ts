// @vitest-environment happy-dom
// Data shaping of the logit-lens and step-score cards against values worked out by hand from a small run, and
// the step-scores table rendered in a DOM.
import { describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { idLabel, logitLensCell, logitLensHeatmap, rankColorValue, stepRows, tokenTextsById } from '../../../renderer/src/explain/lens-steps';
import { buildHeatmapOption } from '../../../renderer/src/charts/heatmap-option';
import StepScoresCard from '../../../renderer/src/components/StepScoresCard.vue';
import { CIVIDIS } from '../../../shared/color-scale';
import type { RunJson } from '../../../shared/run';
import { makeRun } from './run-fixture';

// Tokens '<s>', 'A' | ' b', 'c' with ids 3, 4 | 5, 6 (the fixture numbers ids from 3); L = 2 blocks.
function lensRun(): RunJson {
  const run = makeRun({ prompt: ['<s>', 'A'], answer: [' b', 'c'] });
  return {
    ...run,
    steps: {
      logprob: [-0.5, -2],
      entropy: [1.25, 0.75],
      rank: [0, 3],
      top5: [
        { ids: [5, 4, 900], probabilities: [0.6, 0.3, 0.1] },
        { ids: [6, 3, 901], probabilities: [0.2, 0.1, 4e-7] },
      ],
    },
    logitLens: {
      layers: 2,
      logprob: [[-9, -8], [-4, -3], [-0.5, -2]],
      rank: [[999, 99], [9, 0], [0, 3]],
      top: [[4, 777], [5, 6], [5, 6]],
      source: 'graph',
      residuals: ['a', 'b', 'c'],
    },
  };
}

describe('stored token strings', () => {
  it('names every top token by the strings the engine recorded, whether or not the run holds the id', () => {
    const base = lensRun();
    const run: RunJson = {
      ...base,
      steps: { ...base.steps!, top5: base.steps!.top5.map((top) => ({ ...top, texts: top.ids.map((id) => `t${id}`) })) },
      logitLens: { ...base.logitLens!, topText: base.logitLens!.top.map((row) => row.map((id) => ` w${id}`)) },
    };
    expect(logitLensCell(run, 2, 1)!.top).toBe('·w777');
    expect(stepRows(run)[1].alternatives.map((entry) => entry.text)).toEqual(['t6', 't3', 't901']);
  });
});

describe('logit lens shaping', () => {
  it('puts the last layer in the top row and the embeddings at the bottom, coloured by log p or log10(rank + 1)', () => {
    const run = lensRun();
    const logprob = logitLensHeatmap(run, 'logprob')!;
    expect(logprob.rowLabels).toEqual(['layer 2', 'layer 1', 'layer 0 (emb.)']);
    expect(logprob.colLabels).toEqual(['0: ·b', '1: c']);
    expect(logprob.values).toEqual([[-0.5, -2], [-4, -3], [-9, -8]]);
    const rank = logitLensHeatmap(run, 'rank')!;
    // log10(1) = 0, log10(4) = 0.60206, log10(10) = 1, log10(1000) = 3, log10(100) = 2.
    expect(rank.values[0][0]).toBe(0);
    expect(rank.values[0][1]).toBeCloseTo(0.60206, 5);
    expect(rank.values[1]).toEqual([1, 0]);
    expect(rank.values[2][0]).toBeCloseTo(3, 12);
    expect(rank.values[2][1]).toBeCloseTo(2, 12);
    expect(rankColorValue(0)).toBe(0);
    expect(logitLensHeatmap({ ...run, logitLens: undefined }, 'logprob')).toBeNull();
  });

  it('states a cell with its layer, token, log p, rank and the top token as text, or #id when the run lacks it', () => {
    const run = lensRun();
    expect(logitLensCell(run, 2, 0)).toEqual({ layer: 0, answerIndex: 0, token: '·b', logprob: -9, rank: 999, top: 'A' });
    expect(logitLensCell(run, 2, 1)).toEqual({ layer: 0, answerIndex: 1, token: 'c', logprob: -8, rank: 99, top: '#777' });
    expect(logitLensCell(run, 0, 1)).toEqual({ layer: 2, answerIndex: 1, token: 'c', logprob: -2, rank: 3, top: 'c' });
    expect(logitLensCell(run, 3, 0)).toBeNull();
    expect(logitLensCell(run, 0, 2)).toBeNull();
    expect(tokenTextsById(run).get(5)).toBe(' b');
    expect(idLabel(tokenTextsById(run), 42)).toBe('#42');
  });

  it('the heatmap takes the card tooltip in place of the default one', () => {
    const run = lensRun();
    const option = buildHeatmapOption(logitLensHeatmap(run, 'logprob')!, { scale: CIVIDIS, cellTooltip: (row, col, value) => `${row}/${col}=${value}` });
    const tooltip = option.tooltip as { formatter: (params: unknown) => string };
    expect(tooltip.formatter({ value: [1, 2, -8] })).toBe('2/1=-8');
  });
});

describe('step scores shaping', () => {
  it('gives per answer token log p, p = exp(log p), entropy, rank and the top five with text or #id', () => {
    const rows = stepRows(lensRun());
    expect(rows).toHaveLength(2);
    expect(rows[0].token).toBe('·b');
    expect(rows[0].probability).toBeCloseTo(0.6065306597, 9);
    expect(rows[1].probability).toBeCloseTo(0.1353352832, 9);
    expect(rows[0]).toMatchObject({ index: 0, logprob: -0.5, entropy: 1.25, rank: 0 });
    expect(rows[0].alternatives).toEqual([
      { text: '·b', probability: 0.6 },
      { text: 'A', probability: 0.3 },
      { text: '#900', probability: 0.1 },
    ]);
    expect(rows[1].alternatives).toEqual([{ text: 'c', probability: 0.2 }, { text: '<s>', probability: 0.1 }, { text: '#901', probability: 4e-7 }]);
    expect(stepRows({ ...lensRun(), steps: undefined })).toEqual([]);
  });

  it('the card renders one table row per answer token', () => {
    const wrapper = mount(StepScoresCard, { props: { run: lensRun() } });
    const rows = wrapper.findAll('[data-testid="step-scores-table"] tbody tr');
    expect(rows).toHaveLength(2);
    const cells = rows[1].findAll('td').map((cell) => cell.text());
    expect(cells.slice(0, 5)).toEqual(['1', '-2', '13.5%', '0.75', '3']);
    // exp(-2) = 0.135335; a tail probability of 4e-7 is 4e-5 %.
    expect(rows[0].find('.alternatives').text()).toContain('#900 10%');
    expect(rows[1].find('.alternatives').text()).toContain('#901 4.0e-5%');
    wrapper.unmount();
  });
});
