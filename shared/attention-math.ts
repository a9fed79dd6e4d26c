// Aggregations of attention probabilities: pure functions on Float32Array, no imports.
//
// Every attention tensor is laid out row-major with axes [layer, head, row, col] (ATTENTION_AXES): `row` is a
// query position (all positions, or only the rows that were stored), `col` is a key position (always all T
// positions). `attentionOffset` is the one place that turns axis indices into a flat offset.

/** Axis order of attention tensors, outermost first. */
export const ATTENTION_AXES = ['layer', 'head', 'row', 'col'] as const;
export type AttentionAxis = (typeof ATTENTION_AXES)[number];

/** Sizes of the four axes. `cols` is the sequence length T; `rows` ≤ T. */
export interface AttentionShape {
  layers: number;
  heads: number;
  rows: number;
  cols: number;
}

/** Probabilities [layer, head, row, col] with, for each row, the query position it belongs to. */
export interface AttentionTensor {
  shape: AttentionShape;
  data: Float32Array;
  /** rowPositions[r] = query position of row r (0 … cols − 1). */
  rowPositions: number[];
}

/** A stack of matrices [outer, row, col], e.g. a per-layer head mean [layer, row, col]. */
export interface MatrixStack {
  count: number;
  rows: number;
  cols: number;
  data: Float32Array;
}

/** Flat offset of element (layer, head, row, col). */
export function attentionOffset(shape: AttentionShape, layer: number, head: number, row: number, col: number): number {
  return ((layer * shape.heads + head) * shape.rows + row) * shape.cols + col;
}

type Reduction = 'mean' | 'max';

/** Reduces the [layer, head] block into groups: `groupOf(layer, head)` gives the output matrix index. */
function reduceMatrices(tensor: AttentionTensor, groups: number, groupOf: (layer: number, head: number) => number, reduction: Reduction): MatrixStack {
  const { layers, heads, rows, cols } = tensor.shape;
  const size = rows * cols;
  const out = new Float32Array(groups * size).fill(reduction === 'max' ? -Infinity : 0);
  const members = new Array<number>(groups).fill(0);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const group = groupOf(layer, head);
      members[group]++;
      const source = attentionOffset(tensor.shape, layer, head, 0, 0);
      const target = group * size;
      if (reduction === 'mean') for (let i = 0; i < size; i++) out[target + i] += tensor.data[source + i];
      else for (let i = 0; i < size; i++) out[target + i] = Math.max(out[target + i], tensor.data[source + i]);
    }
  }
  if (reduction === 'mean') {
    for (let group = 0; group < groups; group++) {
      const scale = 1 / members[group];
      for (let i = group * size; i < (group + 1) * size; i++) out[i] *= scale;
    }
  }
  return { count: groups, rows, cols, data: out };
}

/** Mean over heads, per layer: [layer, row, col]. This is the "per-layer mean". */
export function meanOverHeads(tensor: AttentionTensor): MatrixStack {
  return reduceMatrices(tensor, tensor.shape.layers, (layer) => layer, 'mean');
}

/** Max over heads, per layer: [layer, row, col]. */
export function maxOverHeads(tensor: AttentionTensor): MatrixStack {
  return reduceMatrices(tensor, tensor.shape.layers, (layer) => layer, 'max');
}

/** Mean over layers, per head: [head, row, col]. */
export function meanOverLayers(tensor: AttentionTensor): MatrixStack {
  return reduceMatrices(tensor, tensor.shape.heads, (_, head) => head, 'mean');
}

/** Max over layers, per head: [head, row, col]. */
export function maxOverLayers(tensor: AttentionTensor): MatrixStack {
  return reduceMatrices(tensor, tensor.shape.heads, (_, head) => head, 'max');
}

/** Mean over all layers and heads: [row, col] (the run JSON's `attention.mean`). */
export function meanOverAll(tensor: AttentionTensor): Float32Array {
  return reduceMatrices(tensor, 1, () => 0, 'mean').data;
}

/** Max over all layers and heads: [row, col]. */
export function maxOverAll(tensor: AttentionTensor): Float32Array {
  return reduceMatrices(tensor, 1, () => 0, 'max').data;
}

/**
 * Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", eq. for rollout with
 * the residual connection): per layer l take the head mean A_l (full T×T), form A'_l = ½·A_l + ½·I, renormalise
 * each row to sum 1, and multiply from the first layer up: R = A'_L · A'_{L−1} · … · A'_1. Returns the rows
 * `rowPositions` of R, [row, col].
 *
 * Only the requested rows are formed: starting from the top layer's rows, v ← v · A'_l walks down, which costs
 * L·R·T² instead of L·T³.
 *
 * Example: one layer, T = 2, A = [[1,0],[0.5,0.5]] → A' = [[1,0],[0.25,0.75]] → rollout rows [[1,0],[0.25,0.75]].
 */
export function attentionRollout(headMean: MatrixStack, rowPositions: readonly number[], residual = 0.5): Float32Array {
  const { count: layers, rows: size, cols } = headMean;
  if (size !== cols) throw new Error(`attentionRollout needs full square matrices per layer, got ${size}×${cols}`);
  const T = cols;
  const R = rowPositions.length;
  const mixed = (layer: number, row: number, out: Float64Array) => {
    // Row `row` of A'_layer, renormalised.
    const base = (layer * T + row) * T;
    let sum = 0;
    for (let col = 0; col < T; col++) {
      out[col] = (1 - residual) * headMean.data[base + col] + (col === row ? residual : 0);
      sum += out[col];
    }
    if (sum > 0) for (let col = 0; col < T; col++) out[col] /= sum;
  };
  let current = new Float64Array(R * T);
  const scratch = new Float64Array(T);
  rowPositions.forEach((position, r) => {
    mixed(layers - 1, position, scratch);
    current.set(scratch, r * T);
  });
  for (let layer = layers - 2; layer >= 0; layer--) {
    const next = new Float64Array(R * T);
    for (let k = 0; k < T; k++) {
      mixed(layer, k, scratch);
      for (let r = 0; r < R; r++) {
        const weight = current[r * T + k];
        if (weight === 0) continue;
        const target = r * T;
        for (let col = 0; col < T; col++) next[target + col] += weight * scratch[col];
      }
    }
    current = next;
  }
  return Float32Array.from(current);
}

/**
 * Per-head statistics, each [layer, head] flattened (layer-major), averaged over the stored rows. Float64: the
 * grids are small, and the run view shows these same numbers (the one computation of head statistics).
 */
export interface HeadStatistics {
  layers: number;
  heads: number;
  /** Mean over rows of the row's entropy −Σ a·ln a (nats); 0 = one-hot, ln(p+1) = uniform over the causal prefix. */
  entropy: Float64Array;
  /** Mean over rows of the row's largest weight. */
  maxWeight: Float64Array;
  /** Mean over rows of the weight on position 0 (the "attention sink" share). */
  firstToken: Float64Array;
  /** Mean over rows with position ≥ 1 of the weight on position − 1; NaN when no such row. */
  previousToken: Float64Array;
}

/** Entropy, max weight, first-token share and previous-token share of every head (any numeric data layout [layer, head, row, col]). */
export function headStatistics(tensor: { shape: AttentionShape; data: ArrayLike<number>; rowPositions: readonly number[] }): HeadStatistics {
  const { layers, heads, rows, cols } = tensor.shape;
  const n = layers * heads;
  const stats: HeadStatistics = {
    layers,
    heads,
    entropy: new Float64Array(n),
    maxWeight: new Float64Array(n),
    firstToken: new Float64Array(n),
    previousToken: new Float64Array(n),
  };
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const h = layer * heads + head;
      let entropy = 0;
      let maxWeight = 0;
      let first = 0;
      let previous = 0;
      let previousRows = 0;
      for (let row = 0; row < rows; row++) {
        const base = attentionOffset(tensor.shape, layer, head, row, 0);
        let rowEntropy = 0;
        let rowMax = 0;
        for (let col = 0; col < cols; col++) {
          const a = tensor.data[base + col];
          if (a > 0) rowEntropy -= a * Math.log(a);
          if (a > rowMax) rowMax = a;
        }
        entropy += rowEntropy;
        maxWeight += rowMax;
        first += tensor.data[base];
        const position = tensor.rowPositions[row];
        if (position >= 1) {
          previous += tensor.data[base + position - 1];
          previousRows++;
        }
      }
      stats.entropy[h] = entropy / rows;
      stats.maxWeight[h] = maxWeight / rows;
      stats.firstToken[h] = first / rows;
      stats.previousToken[h] = previousRows > 0 ? previous / previousRows : NaN;
    }
  }
  return stats;
}

/**
 * "Input attention": how much the answer attends to each prompt token. For each column c < promptLength, the
 * mean over the answer rows (query positions promptLength − 1 … T − 2, i.e. the positions that predict answer
 * tokens; other rows are ignored) and over all layers and heads of the weight on c. Columns ≥ promptLength are 0. Not
 * renormalised: the values sum to the average share of attention that goes to the prompt (≤ 1), the rest goes to
 * answer tokens. Returns [col], length T.
 *
 * Example: one layer, one head, T = 4, promptLength 2, answer rows at position 1 = [0.25, 0.75, 0, 0] and
 * position 2 = [0.5, 0.25, 0.25, 0] → input = [0.375, 0.5, 0, 0].
 */
export function inputAttention(tensor: AttentionTensor, promptLength: number): Float32Array {
  const { layers, heads, rows, cols } = tensor.shape;
  const out = new Float32Array(cols);
  const answerRows: number[] = [];
  for (let row = 0; row < rows; row++) {
    const position = tensor.rowPositions[row];
    if (position >= promptLength - 1 && position <= cols - 2) answerRows.push(row);
  }
  if (answerRows.length === 0) return out;
  const limit = Math.min(promptLength, cols);
  const sums = new Float64Array(limit);
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      for (const row of answerRows) {
        const base = attentionOffset(tensor.shape, layer, head, row, 0);
        for (let col = 0; col < limit; col++) sums[col] += tensor.data[base + col];
      }
    }
  }
  const scale = 1 / (layers * heads * answerRows.length);
  for (let col = 0; col < limit; col++) out[col] = sums[col] * scale;
  return out;
}

/** Rows `rowPositions` of a square [T, T] matrix, as [row, col]. */
export function selectRows(matrix: Float32Array, size: number, rowPositions: readonly number[]): Float32Array {
  const out = new Float32Array(rowPositions.length * size);
  rowPositions.forEach((position, r) => out.set(matrix.subarray(position * size, (position + 1) * size), r * size));
  return out;
}

/** Query positions of the stored rows: answer rows are promptLength − 1 … T − 2; "all" rows are 0 … T − 1. */
export function rowPositionsFor(rows: 'answer' | 'all', sequenceLength: number, promptLength: number): number[] {
  if (rows === 'all') return Array.from({ length: sequenceLength }, (_, i) => i);
  if (promptLength < 1) throw new Error('answer rows need a prompt of at least one token');
  return Array.from({ length: Math.max(0, sequenceLength - promptLength) }, (_, t) => promptLength + t - 1);
}

/** Softmax over the last axis with a causal mask (col > rowPosition gets 0), in place on a [row, col] block. */
export function causalSoftmaxRows(scores: Float32Array | Float64Array, cols: number, rowPositions: readonly number[]): void {
  rowPositions.forEach((position, r) => {
    const base = r * cols;
    let max = -Infinity;
    for (let col = 0; col <= position; col++) max = Math.max(max, scores[base + col]);
    let sum = 0;
    for (let col = 0; col < cols; col++) {
      const value = col <= position ? Math.exp(scores[base + col] - max) : 0;
      scores[base + col] = value;
      sum += value;
    }
    for (let col = 0; col <= position; col++) scores[base + col] /= sum;
  });
}
