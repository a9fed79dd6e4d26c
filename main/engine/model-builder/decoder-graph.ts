// Graph pieces shared by the decomposed decoder builders: the optimum-style inputs and outputs, the additive
// causal + padding mask, and scaled dot-product attention with a KV cache.
import { DataType } from '../onnx/proto';
import type { GraphBuilder } from '../onnx/graph-builder';
import type { Scope } from './scope';

/** The most negative float32, as Hugging Face uses for masked scores (exp underflows to exactly 0). */
export const MASK_MIN = -3.4028234663852886e38;

/** Symbolic dimension names as optimum writes them (transformers.js resolves `batch_size`, others → 0). */
export const DIMS = {
  batch: 'batch_size',
  sequence: 'sequence_length',
  past: 'past_sequence_length',
  total: 'past_sequence_length + sequence_length',
  present: 'past_sequence_length + 1',
} as const;

export interface DecoderInputs {
  inputIds: string;
  attentionMask: string;
  /** Absent in graphs whose fused rotary computes positions itself. */
  positionIds?: string;
  pastKeys: string[];
  pastValues: string[];
}

/** Declares `input_ids`, `attention_mask`, optionally `position_ids`, and `past_key_values.N.key|value`. */
export function declareDecoderInputs(
  g: GraphBuilder,
  shape: { layers: number; kvHeads: number; headDim: number; positionIds: boolean; cacheType?: number },
): DecoderInputs {
  const inputIds = g.input('input_ids', DataType.INT64, [DIMS.batch, DIMS.sequence]);
  const attentionMask = g.input('attention_mask', DataType.INT64, [DIMS.batch, DIMS.total]);
  const positionIds = shape.positionIds ? g.input('position_ids', DataType.INT64, [DIMS.batch, DIMS.sequence]) : undefined;
  const pastKeys: string[] = [];
  const pastValues: string[] = [];
  const cacheType = shape.cacheType ?? DataType.FLOAT;
  for (let layer = 0; layer < shape.layers; layer++) {
    const dims = [DIMS.batch, shape.kvHeads, DIMS.past, shape.headDim];
    pastKeys.push(g.input(`past_key_values.${layer}.key`, cacheType, dims));
    pastValues.push(g.input(`past_key_values.${layer}.value`, cacheType, dims));
  }
  return { inputIds, attentionMask, positionIds, pastKeys, pastValues };
}

/** Declares `logits` and `present.N.key|value` (already produced under those names). */
export function declareDecoderOutputs(
  g: GraphBuilder,
  shape: { layers: number; kvHeads: number; headDim: number; vocab: number; cacheType?: number },
): void {
  g.output('logits', DataType.FLOAT, [DIMS.batch, DIMS.sequence, shape.vocab]);
  const cacheType = shape.cacheType ?? DataType.FLOAT;
  for (let layer = 0; layer < shape.layers; layer++) {
    const dims = [DIMS.batch, shape.kvHeads, DIMS.total, shape.headDim];
    g.output(`present.${layer}.key`, cacheType, dims);
    g.output(`present.${layer}.value`, cacheType, dims);
  }
}

/**
 * The additive attention mask [batch, 1, sequence, total]: 0 where key k may be seen by query q, MASK_MIN
 * elsewhere. Query q sits at absolute index past + q (past = total − sequence), so the same graph serves a
 * full pass and KV-cached steps, and left-padded rows stay correct (positions there do not equal indices).
 */
export function causalMask(scope: Scope, inputIds: string, attentionMask: string): string {
  const g = scope.graph;
  const one = g.int64(1, []);
  const sequence = scope.op('Gather', [scope.op('Shape', [inputIds]), one], { axis: 0 });
  const total = scope.op('Gather', [scope.op('Shape', [attentionMask]), one], { axis: 0 });
  const past = scope.op('Sub', [total, sequence]);
  const keyIndex = scope.op('Range', [g.int64(0, []), total, one]);
  const queryIndex = scope.op('Range', [past, total, one]);
  const causal = scope.op('LessOrEqual', [
    scope.op('Unsqueeze', [keyIndex, g.int64([0])]),
    scope.op('Unsqueeze', [queryIndex, g.int64([1])]),
  ]);
  const padding = scope.op('Unsqueeze', [scope.op('Cast', [attentionMask], { to: DataType.BOOL }), g.int64([1, 2])]);
  const allowed = scope.op('And', [causal, padding]);
  return scope.op('Where', [allowed, g.float(0, []), g.float(MASK_MIN, [])]);
}

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** [batch, seq, heads·dim] → [batch, heads, seq, dim]. */
export function splitHeads(scope: Scope, x: string, heads: number, headDim: number): string {
  const reshaped = scope.op('Reshape', [x, scope.graph.int64([0, 0, heads, headDim])]);
  return scope.op('Transpose', [reshaped], { perm: [0, 2, 1, 3] });
}

/**
 * Scaled dot-product attention with the cache: appends k, v to the past (→ `present.N.key|value`, before
 * repetition, as exports do), repeats KV heads for grouped-query attention, and returns the context
 * [batch, seq, heads·dim]. q, k, v are [batch, heads, seq, dim] (k, v with kvHeads).
 */
export function cachedAttention(
  scope: Scope,
  layer: number,
  tensors: { query: string; key: string; value: string; pastKey: string; pastValue: string; mask: string },
  shape: AttentionShape,
): string {
  const g = scope.graph;
  const presentKey = scope.op('Concat', [tensors.pastKey, tensors.key], { axis: 2 }, { outputNames: [`present.${layer}.key`] });
  const presentValue = scope.op('Concat', [tensors.pastValue, tensors.value], { axis: 2 }, { outputNames: [`present.${layer}.value`] });
  const repeat = (x: string): string => {
    const groups = shape.heads / shape.kvHeads;
    if (groups === 1) return x;
    const expanded = scope.op('Expand', [scope.op('Unsqueeze', [x, g.int64([2])]), g.int64([1, 1, groups, 1, 1])]);
    return scope.op('Reshape', [expanded, g.int64([0, shape.heads, -1, shape.headDim])]);
  };
  const keys = repeat(presentKey);
  const values = repeat(presentValue);
  const scores = scope.op('MatMul', [tensors.query, scope.op('Transpose', [keys], { perm: [0, 1, 3, 2] })]);
  const scaled = scope.op('Mul', [scores, g.float(1 / Math.sqrt(shape.headDim), [])]);
  const probabilities = scope.op('Softmax', [scope.op('Add', [scaled, tensors.mask])], { axis: -1 });
  const context = scope.op('MatMul', [probabilities, values]);
  const merged = scope.op('Transpose', [context], { perm: [0, 2, 1, 3] });
  return scope.op('Reshape', [merged, g.int64([0, 0, shape.heads * shape.headDim])]);
}

/** RMSNorm decomposed as exports write it: x / sqrt(mean(x²) + eps) · weight. */
export function rmsNorm(scope: Scope, x: string, weight: string, eps: number): string {
  const g = scope.graph;
  const variance = scope.op('ReduceMean', [scope.op('Pow', [x, g.float(2, [])])], { axes: [-1], keepdims: 1 });
  const root = scope.op('Sqrt', [scope.op('Add', [variance, g.float(eps, [])])]);
  const inverse = scope.op('Div', [g.float(1, []), root]);
  return scope.op('Mul', [weight, scope.op('Mul', [x, inverse])]);
}
