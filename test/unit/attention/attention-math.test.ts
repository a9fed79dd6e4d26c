import { describe, expect, it } from 'vitest';
import {
  attentionOffset,
  attentionRollout,
  causalSoftmaxRows,
  headStatistics,
  inputAttention,
  maxOverAll,
  maxOverHeads,
  maxOverLayers,
  meanOverAll,
  meanOverHeads,
  meanOverLayers,
  rowPositionsFor,
  selectRows,
  type AttentionTensor,
} from '../../../shared/attention-math';

import { mulberry32 as random } from '../../../shared/random';

/** Random causal attention [L, H, T, T] with rows summing to 1. */
function randomAttention(layers: number, heads: number, T: number, seed = 1): number[][][][] {
  const next = random(seed);
  return Array.from({ length: layers }, () =>
    Array.from({ length: heads }, () =>
      Array.from({ length: T }, (_, row) => {
        const raw = Array.from({ length: T }, (_, col) => (col <= row ? next() ** 3 + 1e-3 : 0));
        const sum = raw.reduce((a, b) => a + b, 0);
        return raw.map((v) => v / sum);
      }),
    ),
  );
}

function toTensor(nested: number[][][][], rowPositions: number[]): AttentionTensor {
  const layers = nested.length;
  const heads = nested[0].length;
  const cols = nested[0][0][0].length;
  const rows = rowPositions.length;
  const data = new Float32Array(layers * heads * rows * cols);
  const shape = { layers, heads, rows, cols };
  for (let l = 0; l < layers; l++)
    for (let h = 0; h < heads; h++)
      rowPositions.forEach((p, r) => nested[l][h][p].forEach((v, c) => (data[attentionOffset(shape, l, h, r, c)] = v)));
  return { shape, data, rowPositions };
}

function matmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((sum, v, k) => sum + v * b[k][j], 0)));
}

/** Straightforward rollout: full T×T products from the first layer up. */
function naiveRollout(nested: number[][][][]): number[][] {
  let result: number[][] | undefined;
  for (const layer of nested) {
    const T = layer[0].length;
    const mean = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => layer.reduce((s, head) => s + head[i][j], 0) / layer.length));
    const mixed = mean.map((row, i) => {
      const r = row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0));
      const s = r.reduce((a, b) => a + b, 0);
      return r.map((v) => v / s);
    });
    result = result ? matmul(mixed, result) : mixed;
  }
  return result!;
}

describe('attention aggregations', () => {
  const L = 3;
  const H = 4;
  const T = 7;
  const nested = randomAttention(L, H, T);
  const allRows = rowPositionsFor('all', T, 3);
  const full = toTensor(nested, allRows);

  it('means and maxima over heads, layers and both match loops over the nested arrays', () => {
    const perLayer = meanOverHeads(full);
    const perLayerMax = maxOverHeads(full);
    const perHead = meanOverLayers(full);
    const perHeadMax = maxOverLayers(full);
    const mean = meanOverAll(full);
    const max = maxOverAll(full);
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        for (let l = 0; l < L; l++) {
          const values = nested[l].map((head) => head[i][j]);
          expect(perLayer.data[(l * T + i) * T + j]).toBeCloseTo(values.reduce((a, b) => a + b) / H, 6);
          expect(perLayerMax.data[(l * T + i) * T + j]).toBeCloseTo(Math.max(...values), 6);
        }
        for (let h = 0; h < H; h++) {
          const values = nested.map((layer) => layer[h][i][j]);
          expect(perHead.data[(h * T + i) * T + j]).toBeCloseTo(values.reduce((a, b) => a + b) / L, 6);
          expect(perHeadMax.data[(h * T + i) * T + j]).toBeCloseTo(Math.max(...values), 6);
        }
        const all = nested.flatMap((layer) => layer.map((head) => head[i][j]));
        expect(mean[i * T + j]).toBeCloseTo(all.reduce((a, b) => a + b) / all.length, 6);
        expect(max[i * T + j]).toBeCloseTo(Math.max(...all), 6);
      }
    }
  });

  it('rollout of selected rows equals the rows of the full matrix-product rollout', () => {
    const expected = naiveRollout(nested);
    const rows = [0, 2, 5, 6];
    const rollout = attentionRollout(meanOverHeads(full), rows);
    rows.forEach((p, r) => expected[p].forEach((v, c) => expect(Math.abs(rollout[r * T + c] - v)).toBeLessThan(1e-6)));
    // Rollout rows are distributions and stay causal.
    rows.forEach((p, r) => {
      const row = Array.from(rollout.subarray(r * T, (r + 1) * T));
      expect(Math.abs(row.reduce((a, b) => a + b) - 1)).toBeLessThan(1e-5);
      row.forEach((v, c) => c > p && expect(v).toBe(0));
    });
  });

  it('rollout matches the documented one-layer example', () => {
    const stack = { count: 1, rows: 2, cols: 2, data: Float32Array.from([1, 0, 0.5, 0.5]) };
    expect(Array.from(attentionRollout(stack, [0, 1]))).toEqual([1, 0, 0.25, 0.75]);
  });

  it('head statistics follow their definitions', () => {
    const answer = rowPositionsFor('answer', T, 3);
    expect(answer).toEqual([2, 3, 4, 5]);
    const tensor = toTensor(nested, answer);
    const stats = headStatistics(tensor);
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const rows = answer.map((p) => nested[l][h][p]);
        const entropy = rows.map((row) => -row.reduce((s, a) => s + (a > 0 ? a * Math.log(a) : 0), 0));
        const k = l * H + h;
        expect(stats.entropy[k]).toBeCloseTo(entropy.reduce((a, b) => a + b) / rows.length, 5);
        expect(stats.maxWeight[k]).toBeCloseTo(rows.map((row) => Math.max(...row)).reduce((a, b) => a + b) / rows.length, 6);
        expect(stats.firstToken[k]).toBeCloseTo(rows.map((row) => row[0]).reduce((a, b) => a + b) / rows.length, 6);
        expect(stats.previousToken[k]).toBeCloseTo(answer.map((p) => nested[l][h][p][p - 1]).reduce((a, b) => a + b) / rows.length, 6);
      }
    }
  });

  it('input attention averages the answer rows over layers and heads, prompt columns only', () => {
    const promptLength = 3;
    const fromAll = inputAttention(full, promptLength);
    const fromAnswer = inputAttention(toTensor(nested, rowPositionsFor('answer', T, promptLength)), promptLength);
    for (let c = 0; c < T; c++) {
      let sum = 0;
      let count = 0;
      for (const layer of nested) for (const head of layer) for (let p = promptLength - 1; p <= T - 2; p++) (sum += c < promptLength ? head[p][c] : 0), count++;
      expect(fromAll[c]).toBeCloseTo(sum / count, 6);
      expect(fromAnswer[c]).toBeCloseTo(sum / count, 6);
    }
    const example: AttentionTensor = {
      shape: { layers: 1, heads: 1, rows: 2, cols: 4 },
      data: Float32Array.from([0.25, 0.75, 0, 0, 0.5, 0.25, 0.25, 0]),
      rowPositions: [1, 2],
    };
    expect(Array.from(inputAttention(example, 2))).toEqual([0.375, 0.5, 0, 0]);
  });

  it('selectRows and causalSoftmaxRows', () => {
    const matrix = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(selectRows(matrix, 3, [2, 0]))).toEqual([7, 8, 9, 1, 2, 3]);
    const scores = Float64Array.from([0, 5, 5, 1, 1, 9]);
    causalSoftmaxRows(scores, 3, [0, 1]);
    expect(Array.from(scores)).toEqual([1, 0, 0, 0.5, 0.5, 0]);
  });
});
