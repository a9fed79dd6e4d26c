// Reading per-token values out of a run: which rows, which positions are masked, sequence-level values.
import { describe, expect, it } from 'vitest';
import { answerMatrix, availableViewMethods, displayToken, integratedGradientsSummary, tokenValues } from '../../../shared/token-values';
import { makeRun } from '../renderer/run-fixture';

describe('token values', () => {
  const run = makeRun();
  const length = run.tokens.ids.length;

  it('lists the methods a run holds data for', () => {
    expect(availableViewMethods(run)).toEqual(['attention.mean', 'attention.rollout', 'saliency', 'grad_x_input', 'integrated_gradients']);
    expect(availableViewMethods({ ...run, attention: undefined, integratedGradients: undefined })).toEqual(['saliency', 'grad_x_input']);
  });

  it('gives one answer token the row that explains it and nothing from the token on', () => {
    const focus = 2;
    const limit = run.promptLength + focus;
    const { values, signed } = tokenValues(run, 'saliency', focus);
    expect(signed).toBe(false);
    expect(values).toHaveLength(length);
    for (let position = 0; position < length; position++) {
      if (position < limit) expect(values[position]).toBe(run.gradient!.saliency![focus][position]);
      else expect(values[position]).toBeNull();
    }
    expect(tokenValues(run, 'grad_x_input', focus).signed).toBe(true);
  });

  it('attention rows of one token sum to one over the positions shown', () => {
    for (let focus = 0; focus < 5; focus++) {
      const values = tokenValues(run, 'attention.mean', focus).values;
      const sum = values.reduce<number>((total, value) => total + (value ?? 0), 0);
      expect(sum).toBeCloseTo(1, 10);
    }
  });

  it('uses stored sequence values for the whole answer, else the mean of the rows over the positions they cover', () => {
    expect(tokenValues(run, 'saliency', 'sequence').values).toEqual(run.gradient!.sequence!.saliency);
    const whole = tokenValues(run, 'grad_x_input', 'sequence').values;
    const rows = answerMatrix(run, 'grad_x_input');
    // Position promptLength + 1 is seen by answer tokens 2, 3 and 4 only.
    const position = run.promptLength + 1;
    const expected = (rows[2][position]! + rows[3][position]! + rows[4][position]!) / 3;
    expect(whole[position]).toBeCloseTo(expected, 12);
    expect(whole[length - 1]).toBeNull();
  });

  it('shows integrated gradients for the whole answer, with a note when a single token was asked for', () => {
    const single = tokenValues(run, 'integrated_gradients', 1);
    expect(single.values).toEqual(run.integratedGradients!.attributions);
    expect(single.note).toMatch(/whole answer/);
    expect(tokenValues(run, 'integrated_gradients', 'sequence').note).toBeUndefined();
    expect(answerMatrix(run, 'integrated_gradients')).toEqual([]);
  });

  it('reads matrices stored over all rows at the predicting position', () => {
    const all = makeRun();
    const full = Array.from({ length }, (_, row) => Array.from({ length }, (_, col) => row * 100 + col));
    all.attention = { ...all.attention!, rows: 'all', mean: full };
    const values = tokenValues(all, 'attention.mean', 0).values;
    expect(values[0]).toBe((all.promptLength - 1) * 100);
    expect(values[all.promptLength]).toBeNull();
  });

  it('makes whitespace visible', () => {
    expect(displayToken(' the')).toBe('·the');
    expect(displayToken('\n')).toBe('↵');
    expect(displayToken('')).toBe('∅');
    expect(displayToken('a b')).toBe('a b');
  });

  it('summarises how integrated gradients were computed and how complete they are', () => {
    const summary = integratedGradientsSummary({ steps: 32, rule: 'gauss-legendre', spacing: 'uniform', baseline: 'scaled', attributions: [], delta: 1.23456, completenessError: 0.0012 });
    expect(summary).toBe(
      'Integrated gradients: 32 steps, gauss-legendre rule (uniform spacing), scaled baseline. f(input) − f(baseline) = 1.235; the attributions sum to it within 0.12%.',
    );
    const defaulted = integratedGradientsSummary({ steps: 64, rule: 'midpoint', spacing: 'geometric', spacingDefaulted: true, baseline: 'zero', attributions: [], delta: 1, completenessError: 0 });
    expect(defaulted).toMatch(/^Integrated gradients: 64 steps, midpoint rule \(geometric spacing, the zero baseline's default\), zero baseline\./);
  });
});
