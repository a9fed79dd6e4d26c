// Head statistics against hand-computed values and against a direct loop over the fixture's attention.
import { describe, expect, it } from 'vitest';
import { allHeadStatistics, headStatistics, matrixRows, queryPosition } from '../../../renderer/src/explain/head-stats';
import { makeRun } from './run-fixture';

describe('head statistics', () => {
  it('computes entropy, max weight, first- and previous-token shares of hand-made rows', () => {
    const rows = [
      [0.5, 0.5, 0, 0],
      [0.25, 0.25, 0.25, 0.25],
    ];
    const statistics = headStatistics(rows, 1, 2);
    expect(statistics.layer).toBe(1);
    expect(statistics.head).toBe(2);
    expect(statistics.entropy).toBeCloseTo((Math.log(2) + Math.log(4)) / 2, 12);
    expect(statistics.maxWeight).toBeCloseTo((0.5 + 0.25) / 2, 12);
    expect(statistics.firstTokenShare).toBeCloseTo((0.5 + 0.25) / 2, 12);
    // Queries at positions 1 and 3: previous tokens 0 and 2.
    expect(statistics.previousTokenShare).toBeCloseTo((0.5 + 0.25) / 2, 12);
  });

  it('finds the query position from the causal zeros', () => {
    expect(queryPosition([0.2, 0.8, 0, 0])).toBe(1);
    expect(queryPosition([1, 0, 0])).toBe(0);
    expect(queryPosition([0, 0])).toBe(0);
  });

  it('matches a direct computation on every head of a run', () => {
    const run = makeRun({ layers: 3, heads: 4, seed: 11 });
    const statistics = allHeadStatistics(run.attention!.data);
    expect(statistics).toHaveLength(12);
    const layer = 2;
    const head = 1;
    const rows = run.attention!.data[layer][head];
    let entropy = 0;
    for (let index = 0; index < rows.length; index++) {
      const query = run.promptLength + index - 1;
      for (let position = 0; position <= query; position++) entropy -= rows[index][position] * Math.log(rows[index][position]);
    }
    const found = statistics.find((entry) => entry.layer === layer && entry.head === head)!;
    expect(found.entropy).toBeCloseTo(entropy / rows.length, 10);
    const flat = { layer, head, rows: rows.length, cols: rows[0].length, data: rows.flat() };
    expect(headStatistics(matrixRows(flat), layer, head)).toEqual(found);
  });
});
