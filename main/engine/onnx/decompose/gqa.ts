// com.microsoft.GroupQueryAttention in standard operators.
//
// Inputs (onnxruntime contrib schema): query [B, S, H·D] or packed QKV [B, S, (H + 2·KH)·D], key, value
// [B, S, KH·D], past_key/past_value [B, KH, P, D] (BNSH, not shared buffers), seqlens_k [B] (= total length − 1
// per sequence), total_sequence_length (scalar), cos_cache/sin_cache [maxPositions, r/2], position_ids.
// Semantics reproduced (CPU kernel): optional rotary on Q and K at positions past + s (or position_ids); K/V
// appended to the past; scores scaled by `scale` (default 1/√D); softcap; causal mask with the past offset;
// local window (the last local_window_size keys up to the query's position, as onnxruntime 1.30 computes it);
// keys past seqlens_k + 1 masked; attention_bias added to the scaled scores; head_sink (a logit per head) or
// smooth_softmax (a logit 0) as one more term in each softmax denominator; q_norm_weight/k_norm_weight: RMSNorm
// of each Q and K head (qk_norm_epsilon) before rotary.
// Outputs: output [B, S, H·D], present_key/present_value [B, KH, P + S, D], output_qk (qk_output = 1: scaled
// scores, 2: probabilities).
import type { NodeProto } from '../proto';
import { attentionCore, mergeHeads, splitHeads } from './attention-core';
import {
  Emit,
  floatAttribute,
  floatTypeOf,
  intAttribute,
  optionalInput,
  optionalOutput,
  staticLastDim,
  UnsupportedFusedOperatorError,
  type DecomposeContext,
  type DecomposeResult,
} from './common';
import { applyRotary, gatherCache } from './rotary';
import { rmsNormalize } from './simplified-layer-norm';

export function decomposeGroupQueryAttention(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const heads = intAttribute(node, 'num_heads', 0);
  const kvHeads = intAttribute(node, 'kv_num_heads', 0);
  if (!heads || !kvHeads) throw new UnsupportedFusedOperatorError(node, 'missing num_heads/kv_num_heads');
  if (optionalInput(node, 12) || optionalInput(node, 13)) throw new UnsupportedFusedOperatorError(node, 'k_scale/v_scale (quantized KV cache)');
  const qNorm = optionalInput(node, 14);
  const kNorm = optionalInput(node, 15);
  if (!qNorm !== !kNorm) throw new UnsupportedFusedOperatorError(node, 'q_norm_weight without k_norm_weight (or the reverse)');
  if (intAttribute(node, 'sliding_window_cache', 0) === 1) throw new UnsupportedFusedOperatorError(node, 'sliding_window_cache = 1');
  const smooth = intAttribute(node, 'smooth_softmax', 0) === 1;
  const headSink = optionalInput(node, 11);
  const elemType = floatTypeOf(context.index, node.input[0]);

  let query = node.input[0];
  let key = optionalInput(node, 1);
  let value = optionalInput(node, 2);
  let headDim: number | undefined;
  const width = staticLastDim(context.index, query);
  if (!key) {
    // Packed QKV: split the last axis into H·D, KH·D, KH·D.
    let sizes: number[] | string;
    if (width !== undefined) {
      headDim = width / (heads + 2 * kvHeads);
      sizes = [heads * headDim, kvHeads * headDim, kvHeads * headDim];
    } else {
      const depth = b.op('Div', [emit.dim(query, 2), b.int64([heads + 2 * kvHeads])]);
      sizes = b.op('Mul', [depth, b.int64([heads, kvHeads, kvHeads])]);
    }
    [query, key, value] = emit.split(query, sizes, 2, 3);
  } else if (width !== undefined) {
    headDim = width / heads;
  }
  if (!value) throw new UnsupportedFusedOperatorError(node, 'key without value');

  let q = splitHeads(emit, query, heads);
  let k = splitHeads(emit, key, kvHeads);
  const v = splitHeads(emit, value, kvHeads);

  if (qNorm && kNorm) {
    // Per-head RMSNorm of Q and K before rotary (Qwen3 style). onnxruntime runs it on CUDA/WebGPU only; its CPU
    // kernel refuses these inputs, so the check is against the unfused form (SimplifiedLayerNormalization per head).
    const norm = { epsilon: floatAttribute(node, 'qk_norm_epsilon') ?? 1e-6, axis: -1, elemType };
    q = rmsNormalize(emit, q, qNorm, norm);
    k = rmsNormalize(emit, k, kNorm, norm);
  }
  const pastKey = optionalInput(node, 3);
  const pastValue = optionalInput(node, 4);
  if (intAttribute(node, 'do_rotary', 0) === 1) {
    const cosCache = optionalInput(node, 7);
    const sinCache = optionalInput(node, 8);
    if (!cosCache || !sinCache) throw new UnsupportedFusedOperatorError(node, 'do_rotary without cos/sin caches');
    let positions = optionalInput(node, 9);
    if (!positions) {
      // past + 0 … S−1, with past = total_sequence_length − S (0 for a first prompt).
      const sequence = emit.squeeze(emit.dim(query, 1), [0]);
      const total = b.op('Cast', [node.input[6]], { to: 7 });
      const past = b.op('Sub', [b.op('Reshape', [total, b.int64([], [0])]), sequence]);
      positions = emit.unsqueeze(b.op('Add', [b.op('Range', [b.int64(0, []), sequence, b.int64(1, [])]), past]), [0]);
    }
    const cos = emit.unsqueeze(gatherCache(emit, cosCache, positions), [1]);
    const sin = emit.unsqueeze(gatherCache(emit, sinCache, positions), [1]);
    const cacheDims = context.index.constantDims(cosCache);
    const rotaryDim = cacheDims ? cacheDims[cacheDims.length - 1] * 2 : undefined;
    const interleaved = intAttribute(node, 'rotary_interleaved', 0) === 1;
    q = applyRotary(emit, q, cos, sin, { interleaved, rotaryDim, headDim });
    k = applyRotary(emit, k, cos, sin, { interleaved, rotaryDim, headDim });
  }
  const presentKey = pastKey ? b.op('Concat', [pastKey, k], { axis: 2 }) : k;
  const presentValue = pastValue ? b.op('Concat', [pastValue, v], { axis: 2 }) : v;

  const seqlens = optionalInput(node, 5);
  const validKeyLengths = seqlens ? b.op('Add', [b.op('Cast', [seqlens], { to: 7 }), b.int64([1])]) : undefined;
  const core = attentionCore(emit, {
    query: q,
    key: presentKey,
    value: presentValue,
    heads,
    kvHeads,
    scale: floatAttribute(node, 'scale') || undefined,
    headDim,
    elemType,
    causal: intAttribute(node, 'causal', intAttribute(node, 'unidirectional', 1)) === 1,
    localWindow: intAttribute(node, 'local_window_size', -1),
    softcap: floatAttribute(node, 'softcap'),
    validKeyLengths,
    additiveMask: optionalInput(node, 10),
    biasAfterSoftcap: true,
    sink: headSink ? b.op('Reshape', [headSink, b.int64([1, heads, 1, 1])]) : smooth ? emit.scalar(elemType, 0) : undefined,
  });
  mergeHeads(emit, core.output, node.output[0]);
  const presentKeyName = optionalOutput(node, 1);
  const presentValueName = optionalOutput(node, 2);
  if (presentKeyName) emit.rename(presentKey, presentKeyName);
  if (presentValueName) emit.rename(presentValue, presentValueName);
  const qkName = optionalOutput(node, 3);
  if (qkName) emit.rename(intAttribute(node, 'qk_output', 0) === 1 ? core.scores : core.probabilities, qkName);
  return { probabilities: core.probabilities, scores: core.scores, query: core.query, key: core.key };
}
