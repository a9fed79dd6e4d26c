// Attention norm (Kobayashi, Kuribayashi, Yokoi & Inui 2020, "Attention is Not Only a Weight: Analyzing
// Transformers with Vector Norms", EMNLP): the size of what key j actually contributes to query i in head h,
//   norm[l][h][i][j] = α_ij^{l,h} · ‖f^{l,h}(x_j)‖₂,   f^{l,h}(x_j) = v_j^{l,h} · W_o^{l}[h·D : (h+1)·D, :]
// with v_j the head's value vector of key j (v projection including its bias, after KV-head repetition) and
// W_o's rows for head h; the output projection's bias is left out (it does not depend on j).
//
// Computed inside the instrumented attention graph (instrument.ts) next to the probabilities: per layer one
// [H, T] table of ‖f(x_j)‖ (one product of the values with the head-split weight — the cost of the output
// projection itself), multiplied into the stored probability rows. Output `explain_attention_norm`
// [layer, head, row, key], the same rows as `explain_attention`.
import { ATTENTION_NORM_TENSORS } from '../../../shared/tensor-names';
import type { GraphBuilder } from '../onnx/graph-builder';
import type { GraphIndex } from '../onnx/graph-index';
import { DataType, makeTensor, type NodeProto } from '../onnx/proto';
import { floatTypeOf, type Emit } from '../onnx/decompose/common';
import { findValuePath } from './value-path';
import type { AttentionNormJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { matrixToRows } from '../explainers/json-arrays';

export const ATTENTION_NORM_OUTPUT = 'explain_attention_norm';

/** Thrown when a layer's value path or output projection is not found; one line naming the layer and why. */
export class AttentionNormNotSupportedError extends Error {
  readonly code = 'attention_norm_unsupported';
  constructor(layer: number, reason: string) {
    super(`attention_norm: layer ${layer}: ${reason}; this model's attention is not supported for attention norm (the other methods still work)`);
    this.name = 'AttentionNormNotSupportedError';
  }
}

/**
 * Adds `explain_attention_norm` to a graph being instrumented. `rows[l]` is layer l's stored probability rows
 * as the instrumentation already sliced them ([1, H, R, T], float32); `sites[l].probabilities` its full Softmax output.
 * Returns each layer's norm-weighted rows.
 */
export function addAttentionNorm(builder: GraphBuilder, emit: Emit, index: GraphIndex, sites: readonly { probabilities: string }[], rows: readonly string[]): string[] {
  const weighted = sites.map((site, layer) => {
    const path = findValuePath(index, site.probabilities);
    if (typeof path === 'string') throw new AttentionNormNotSupportedError(layer, path);
    const value = builder.op('Cast', [path.value], { to: DataType.FLOAT });
    // [.., T, D] → [1, H, T, D] (the value layout after repetition; batch 1 in explain graphs).
    const heads4 = builder.op('Reshape', [value, builder.op('Concat', [builder.int64([1, -1]), emit.dims(value, -2)], { axis: 0 })]);
    const transformed = path.weight ? throughWeight(builder, emit, heads4, path.weight) : throughClonedProjection(builder, emit, index, heads4, path.projection);
    const norms = builder.op('Sqrt', [emit.reduce('ReduceSum', builder.op('Mul', [transformed, transformed]), [-1], 0)]); // [1, H, T]
    return builder.op('Mul', [rows[layer], emit.unsqueeze(norms, [2])]); // [1, H, R, T] · [1, H, 1, T]
  });
  builder.ops('Concat', weighted, { axis: 0 }, { outputNames: [ATTENTION_NORM_OUTPUT] });
  builder.output(ATTENTION_NORM_OUTPUT);
  return weighted;
}

/** v [1, H, T, D] · W reshaped to [H, D, hidden] → [1, H, T, hidden]: each head through its own rows of W. */
function throughWeight(builder: GraphBuilder, emit: Emit, heads4: string, weight: string): string {
  const perHead = builder.op('Reshape', [
    builder.op('Cast', [weight], { to: DataType.FLOAT }),
    builder.op('Concat', [emit.dim(heads4, 1), emit.dim(heads4, 3), builder.int64([-1])], { axis: 0 }),
  ]);
  return builder.op('MatMul', [heads4, perHead]);
}

/**
 * For projections whose weight is not a plain matrix (Gemm, MatMulNBits): each head's values placed in its own
 * slot of an otherwise zero [H, T, H·D] input, run through a copy of the projection node without its bias.
 * Costs H times the projection; exact because the projection is linear in its input.
 */
function throughClonedProjection(builder: GraphBuilder, emit: Emit, index: GraphIndex, heads4: string, projection: NodeProto): string {
  const values = emit.squeeze(heads4, [0]); // [H, T, D]
  const heads = emit.dim(values, 0);
  const eye = builder.op('EyeLike', [builder.op('ConstantOfShape', [builder.op('Concat', [heads, heads], { axis: 0 })], { value: makeTensor('one', Float32Array.of(1), [1]) })]);
  const slots = builder.op('Reshape', [eye, builder.op('Concat', [heads, builder.int64([1]), heads, builder.int64([1])], { axis: 0 })]); // [H, 1, H, 1]
  const placed = builder.op('Mul', [emit.unsqueeze(values, [2]), slots]); // [H, T, H, D]
  const merged = builder.op('Reshape', [placed, builder.op('Concat', [emit.dims(placed, 0, 2), builder.int64([-1])], { axis: 0 })]); // [H, T, H·D]
  const typed = builder.op('Cast', [merged], { to: floatTypeOf(index, projection.input[0]) });
  // Drop the bias: Gemm's C (input 2), MatMulNBits' bias (input 5).
  const inputs = projection.opType === 'Gemm' ? [typed, projection.input[1]] : [typed, ...projection.input.slice(1, 5)];
  const output = builder.fresh('norm_projection');
  builder.nodes.push({ ...projection, name: builder.fresh('NormProjection'), input: inputs, output: [output] });
  return emit.unsqueeze(builder.op('Cast', [output], { to: DataType.FLOAT }), [0]); // [1, H, T, hidden]
}

/** Store names; `attentionNorm.data` axes are [layer, head, row, col] like attention.data. */
/** Tensor names in the store (shared/tensor-names). */
export { ATTENTION_NORM_TENSORS };

interface NormShape {
  layers: number;
  heads: number;
  rows: number;
  cols: number;
}

/** The run JSON field at full precision. */
export function attentionNormJson(norm: { data: Float32Array; mean: Float32Array }, shape: NormShape, rows: 'answer' | 'all', rowPositions: number[]): AttentionNormJson {
  const block = shape.rows * shape.cols;
  const data = Array.from({ length: shape.layers }, (_, l) =>
    Array.from({ length: shape.heads }, (_, h) => matrixToRows(norm.data.subarray((l * shape.heads + h) * block, (l * shape.heads + h + 1) * block), shape.rows, shape.cols)),
  );
  return { layers: shape.layers, heads: shape.heads, rows, rowPositions, data, mean: matrixToRows(norm.mean, shape.rows, shape.cols) };
}

/** Norms in float16 like the probabilities (relative error ≤ 2⁻¹¹); the mean in float32. */
export function attentionNormTensors(norm: { data: Float32Array; mean: Float32Array }, shape: NormShape): NamedTensor[] {
  return [
    { name: ATTENTION_NORM_TENSORS.data, axes: ['layer', 'head', 'row', 'col'], shape: [shape.layers, shape.heads, shape.rows, shape.cols], data: norm.data, encoding: 'float16' },
    { name: ATTENTION_NORM_TENSORS.mean, axes: ['row', 'col'], shape: [shape.rows, shape.cols], data: norm.mean, encoding: 'float32' },
  ];
}
