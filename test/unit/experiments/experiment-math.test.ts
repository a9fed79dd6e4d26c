import { describe, expect, it } from 'vitest';
import { attributionMass, headAttentionTo, meanGrid, pooledAcceptance, segmentShares, topTokenShares, topTokensOverall, answerChanged } from '../../../shared/experiment-math';

describe('experiment math', () => {
  it('sums absolute values over kept rows, prompt columns only', () => {
    expect(Array.from(attributionMass([1, -3, 2, 9, -1, 1, 4, 4], [2, 4], 2))).toEqual([2, 4]);
    expect(Array.from(attributionMass([1, -3, 2, 9, -1, 1, 4, 4], [2, 4], 3, (row) => row === 1))).toEqual([1, 1, 4]);
    expect(Array.from(attributionMass([-2, 1, 5], [3], 2))).toEqual([2, 1]);
  });

  it('gives segment shares of the normalised mass', () => {
    expect(segmentShares([1, 1, 2], [{ name: 'data', kind: 'auto', ranges: [[1, 3]] }, { name: 'a', kind: 'auto', ranges: [[0, 1], [0, 1]] }]))
      .toEqual({ data: 0.75, a: 0.25 });
    expect(segmentShares([0, 0], [{ name: 'x', kind: 'auto', ranges: [[0, 2]] }])).toEqual({ x: 0 });
  });

  it('ranks tokens per run and overall by text', () => {
    expect(topTokenShares([1, 3, 0], ['a', 'b', 'c'], 2)).toEqual([{ position: 1, text: 'b', share: 0.75 }, { position: 0, text: 'a', share: 0.25 }]);
    const overall = topTokensOverall([{ runId: 'a', texts: ['x', ' y', ' '], mass: [1, 3, 4] }, { runId: 'b', texts: ['y'], mass: [2] }], 5);
    expect(overall).toEqual([
      { text: 'y', meanShare: (3 / 8 + 1) / 2, runCount: 2, occurrences: 2, runIds: ['a', 'b'] },
      { text: 'x', meanShare: 1 / 16, runCount: 1, occurrences: 1, runIds: ['a'] },
    ]);
  });

  it('averages grids of different sizes cell by cell', () => {
    expect(meanGrid([{ runId: 'a', grid: [[1, 2]] }, { runId: 'b', grid: [[3], [NaN]] }])).toEqual([
      [{ mean: 2, runIds: ['a', 'b'] }, { mean: 2, runIds: ['a'] }],
      [{ mean: null, runIds: [] }, { mean: null, runIds: [] }],
    ]);
  });

  it('measures per-head attention to positions over kept rows', () => {
    // two heads, two rows, three cols
    const data = [0.5, 0.5, 0, 1, 0, 0, 0, 0, 1, 0.2, 0.3, 0.5];
    expect(Array.from(headAttentionTo(data, 2, 2, 3, [0]))).toEqual([0.75, 0.1]);
    expect(Array.from(headAttentionTo(data, 2, 2, 3, [1, 2], (row) => row === 1))).toEqual([0, 0.8]);
  });

  it('compares answers as text', () => {
    expect(answerChanged(' 9 to  5 ', '9 to 5')).toBe(false);
    expect(answerChanged('9 to 6', '9 to 5')).toBe(true);
  });
});

describe('pooledAcceptance', () => {
  it('pools drafts over runs (Σ accepted / Σ proposed, not a mean of rates) and is undefined without assisted runs', () => {
    const pooled = pooledAcceptance([
      { runId: 'a', proposed: 10, accepted: 8 },
      { runId: 'b', proposed: 30, accepted: 12 },
    ]);
    expect(pooled).toEqual({ runIds: ['a', 'b'], proposed: 40, accepted: 20, acceptanceRate: 0.5 });
    expect(pooledAcceptance([])).toBeUndefined();
    expect(pooledAcceptance([{ runId: 'c', proposed: 0, accepted: 0 }])?.acceptanceRate).toBe(0);
  });
});
