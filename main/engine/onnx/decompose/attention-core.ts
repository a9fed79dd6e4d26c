// Scaled dot-product attention in standard operators, shared by the GroupQueryAttention, MultiHeadAttention,
// com.microsoft.Attention and ONNX Attention decompositions. One explicit Softmax per call, so the attention
// instrumentation finds the probabilities the same way it finds them in unfused exports.
//
//   scores = (Q · Kᵀ) · scale  [+ additive mask]  → softcap·tanh(scores/softcap) if softcap > 0
//   masked = Where(allowed, scores, lowest)       allowed: causal (key ≤ past + query), local window,
//                                                 valid key lengths, boolean mask
//   P = Softmax(masked, −1);  output = P · V
//   with a sink logit z (attention sinks: GQA head_sink, smooth_softmax with z = 0): P = Softmax([masked, z])
//   without its last column, i.e. exp(s_j) / (exp(z) + Σ exp(s_i)).
// Key/value heads are shared by groups of query heads (GQA): query head h reads kv head ⌊h / (H / KH)⌋.
import { Emit, lowest } from './common';

export interface AttentionCoreInputs {
  /** [B, H, S, D] */
  query: string;
  /** [B, KH, T, D], T = past + S */
  key: string;
  /** [B, KH, T, Dv] */
  value: string;
  heads: number;
  kvHeads: number;
  /** Multiplier of Q·Kᵀ; undefined → 1/√D with D taken from `headDim` or, failing that, at run time. */
  scale?: number;
  headDim?: number;
  elemType: number;
  causal: boolean;
  /** Only the last `localWindow` keys up to the query position are kept (−1 or undefined: no window). */
  localWindow?: number;
  softcap?: number;
  /** Added to the scores; broadcasts to [B, H, S, T]. */
  additiveMask?: string;
  /** Add `additiveMask` after the softcap instead of before (GroupQueryAttention's order). */
  biasAfterSoftcap?: boolean;
  /** Boolean, true = may attend; broadcasts to [B, H, S, T]. */
  keepMask?: string;
  /** int64 [B]: keys at index ≥ this are masked (right padding). */
  validKeyLengths?: string;
  /** Extra logit in each softmax denominator, broadcasting to [B, H, S, 1] (e.g. [1, H, 1, 1] per head). */
  sink?: string;
}

export interface AttentionCoreOutputs {
  /** [B, H, S, Dv] */
  output: string;
  /** Post-softmax probabilities [B, H, S, T]. */
  probabilities: string;
  /** Scaled scores before masking [B, H, S, T]. */
  scores: string;
  /** The query and (group-expanded) key entering the score MatMul. */
  query: string;
  key: string;
}

/** Repeats each of KH heads H/KH times along axis 1: [B, KH, T, D] → [B, H, T, D]. */
function repeatHeads(emit: Emit, x: string, heads: number, kvHeads: number): string {
  if (heads === kvHeads) return x;
  const b = emit.b;
  const groups = heads / kvHeads;
  const expanded = b.op('Expand', [
    emit.unsqueeze(x, [2]),
    b.op('Concat', [emit.dims(x, 0, 2), b.int64([groups]), emit.dims(x, 2)], { axis: 0 }),
  ]);
  const shape = b.op('Concat', [emit.dims(x, 0, 1), b.int64([heads]), emit.dims(x, 2)], { axis: 0 });
  return b.op('Reshape', [expanded, shape]);
}

export function attentionCore(emit: Emit, inputs: AttentionCoreInputs): AttentionCoreOutputs {
  const b = emit.b;
  if (inputs.heads % inputs.kvHeads !== 0) throw new Error(`attention: ${inputs.heads} query heads are not a multiple of ${inputs.kvHeads} kv heads`);
  const key = repeatHeads(emit, inputs.key, inputs.heads, inputs.kvHeads);
  const value = repeatHeads(emit, inputs.value, inputs.heads, inputs.kvHeads);
  const raw = b.op('MatMul', [inputs.query, b.op('Transpose', [key], { perm: [0, 1, 3, 2] })]);
  let scale: string;
  if (inputs.scale !== undefined) scale = emit.scalar(inputs.elemType, inputs.scale);
  else if (inputs.headDim !== undefined) scale = emit.scalar(inputs.elemType, 1 / Math.sqrt(inputs.headDim));
  else {
    const depth = b.op('Cast', [emit.dim(inputs.query, 3)], { to: inputs.elemType });
    scale = b.op('Reciprocal', [b.op('Sqrt', [depth])]);
  }
  let scores = b.op('Mul', [raw, scale]);
  const scaled = scores;
  if (inputs.additiveMask && !inputs.biasAfterSoftcap) scores = b.op('Add', [scores, inputs.additiveMask]);
  if (inputs.softcap && inputs.softcap > 0) {
    const cap = emit.scalar(inputs.elemType, inputs.softcap);
    scores = b.op('Mul', [b.op('Tanh', [b.op('Div', [scores, cap])]), cap]);
  }
  if (inputs.additiveMask && inputs.biasAfterSoftcap) scores = b.op('Add', [scores, inputs.additiveMask]);

  // The boolean "may attend" mask, [.., S, T].
  const conditions: string[] = [];
  const needsPositions = inputs.causal || (inputs.localWindow !== undefined && inputs.localWindow >= 0) || inputs.validKeyLengths;
  if (needsPositions) {
    const queryLength = emit.squeeze(emit.dim(inputs.query, 2), [0]);
    const keyLength = emit.squeeze(emit.dim(inputs.key, 2), [0]);
    const zero = b.int64(0, []);
    const one = b.int64(1, []);
    const past = b.op('Sub', [keyLength, queryLength]);
    const rows = emit.unsqueeze(b.op('Add', [b.op('Range', [zero, queryLength, one]), past]), [1]); // [S, 1] absolute positions
    const cols = emit.unsqueeze(b.op('Range', [zero, keyLength, one]), [0]); // [1, T]
    if (inputs.causal) conditions.push(b.op('LessOrEqual', [cols, rows]));
    if (inputs.localWindow !== undefined && inputs.localWindow >= 0) {
      // onnxruntime 1.30's CPU kernel keeps `localWindow` keys including the query's own position.
      conditions.push(b.op('Greater', [cols, b.op('Sub', [rows, b.int64(inputs.localWindow, [])])]));
    }
    if (inputs.validKeyLengths) {
      const lengths = b.op('Reshape', [inputs.validKeyLengths, b.int64([-1, 1, 1, 1])]);
      conditions.push(b.op('Less', [cols, lengths]));
    }
  }
  if (inputs.keepMask) conditions.push(inputs.keepMask);
  if (conditions.length > 0) {
    const allowed = conditions.reduce((a, c) => b.op('And', [a, c]));
    scores = b.op('Where', [allowed, scores, emit.scalar(inputs.elemType, lowest(inputs.elemType))]);
  }
  let probabilities: string;
  if (inputs.sink) {
    // The sink is one more key column that attends to nothing: Softmax keeps its ordinary gradient rule.
    const column = b.op('Expand', [inputs.sink, b.op('Concat', [emit.dims(scores, 0, 3), b.int64([1])], { axis: 0 })]);
    const widened = b.op('Softmax', [b.op('Concat', [scores, column], { axis: -1 })], { axis: -1 });
    probabilities = emit.slice(widened, [0], [-1], [-1]);
  } else probabilities = b.op('Softmax', [scores], { axis: -1 });
  const output = b.op('MatMul', [probabilities, value]);
  return { output, probabilities, scores: scaled, query: inputs.query, key };
}

/** [B, S, N·D] → [B, N, S, D]. */
export function splitHeads(emit: Emit, x: string, heads: number): string {
  const b = emit.b;
  return b.op('Transpose', [b.op('Reshape', [x, b.int64([0, 0, heads, -1])])], { perm: [0, 2, 1, 3] });
}

/** [B, N, S, D] → [B, S, N·D], written under `name` when given. */
export function mergeHeads(emit: Emit, x: string, name?: string): string {
  const b = emit.b;
  const transposed = b.op('Transpose', [x], { perm: [0, 2, 1, 3] });
  return b.ops('Reshape', [transposed, b.int64([0, 0, -1])], {}, name ? { outputNames: [name] } : {})[0];
}
