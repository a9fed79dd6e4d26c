// com.microsoft.MultiHeadAttention, com.microsoft.Attention and ONNX Attention (opset 23) in standard operators.
//
// MultiHeadAttention: query/key/value [B, S|L, N·D], or packed QKV query [B, S, N, 3, D] (key, value absent), or
//   packed KV key [B, L, N, 2, D] (value absent); bias [3·N·D], key_padding_mask [B, T] (0 = masked,
//   adds mask_filter_value), attention_bias (added), past_key/past_value [B, N, P, D], unidirectional (causal).
//   Outputs: output, present_key, present_value, qk (scaled scores before the softmax).
// Attention (com.microsoft): input [B, S, in] · weights [in, Dq + Dk + Dv] + bias, split by qkv_hidden_sizes; mask_index
//   raw [B, T] / [B, S, T] (0 = masked, adds mask_filter_value) or [B] valid lengths (right padding); past
//   [2, B, N, P, D] → present [2, B, N, T, D]; attention_bias; unidirectional; do_rotary (rotateQueryKey).
// Attention (ONNX 23): Q/K/V 3-D with q_num_heads/kv_num_heads, or 4-D [B, N, S, D]; attn_mask bool (true =
//   attend) or float (added); past_key/past_value; is_causal; scale; softcap; qk_matmul_output_mode 0–3.
import { DataType, type NodeProto } from '../proto';
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
import { applyRotary } from './rotary';
import { rotaryTables } from './rotary-tables';

/** (1 − mask) · filter, for 0/1 integer masks, broadcast to [B, 1, 1 or S, T]. */
function paddingBias(emit: Emit, mask: string, rank: number, filter: number, elemType: number): string {
  const b = emit.b;
  const asFloat = b.op('Cast', [mask], { to: elemType });
  const bias = b.op('Mul', [b.op('Sub', [emit.scalar(elemType, 1), asFloat]), emit.scalar(elemType, filter)]);
  return emit.unsqueeze(bias, rank === 2 ? [1, 2] : [1]);
}

function checkDivisible(node: NodeProto, width: number | undefined, heads: number): number | undefined {
  if (width === undefined) return undefined;
  if (width % heads !== 0) throw new UnsupportedFusedOperatorError(node, `hidden size ${width} not divisible by ${heads} heads`);
  return width / heads;
}

/** Splits a packed [B, S, N, M, H] tensor on axis 3 into M heads-first tensors [B, N, S, H]. */
function unpack(emit: Emit, packed: string, count: number): string[] {
  return emit.split(packed, new Array(count).fill(1), 3, count).map((part) => emit.b.op('Transpose', [emit.squeeze(part, [3])], { perm: [0, 2, 1, 3] }));
}

/** Adds one [N·H] piece of the [3·N·H] bias to a heads-first [B, N, S, H] tensor. */
function addHeadBias(emit: Emit, x: string, piece: string, heads: number): string {
  const b = emit.b;
  return b.op('Add', [x, emit.unsqueeze(b.op('Reshape', [piece, b.int64([heads, -1])]), [1])]);
}

export function decomposeMultiHeadAttention(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const heads = intAttribute(node, 'num_heads', 0);
  const query = node.input[0];
  const key = optionalInput(node, 1);
  const value = optionalInput(node, 2);
  if (optionalInput(node, 9)) throw new UnsupportedFusedOperatorError(node, 'cache_indirection');
  const queryDims = context.index.declaredDims(query);
  const keyDims = key ? context.index.declaredDims(key) : undefined;
  if (keyDims && keyDims.length === 4) throw new UnsupportedFusedOperatorError(node, 'key in BNSH layout');
  // Forms (contrib schema): separate 3-D q/k/v; packed QKV query [B, S, N, 3, H] without key and value; packed KV
  // key [B, L, N, 2, H] without value.
  const packedQkv = !key && !value;
  const packedKv = !!key && !value;
  if (packedQkv && queryDims && queryDims.length !== 5) throw new UnsupportedFusedOperatorError(node, `a ${queryDims.length}-D query without key and value (packed QKV is [B, S, N, 3, H])`);
  if (!key && value) throw new UnsupportedFusedOperatorError(node, 'value without key');
  const elemType = floatTypeOf(context.index, query);
  const lastDim = packedQkv ? queryDims?.[4] : undefined;
  const headDim = typeof lastDim === 'number' ? lastDim : packedQkv ? undefined : checkDivisible(node, staticLastDim(context.index, query), heads);

  let q: string;
  let k: string;
  let v: string;
  if (packedQkv) [q, k, v] = unpack(emit, query, 3);
  else if (packedKv) {
    q = splitHeads(emit, query, heads);
    [k, v] = unpack(emit, key!, 2);
  } else {
    q = splitHeads(emit, query, heads);
    k = splitHeads(emit, key!, heads);
    v = splitHeads(emit, value!, heads);
  }
  const bias = optionalInput(node, 3);
  if (bias) {
    const width = context.index.constantDims(bias)?.[0];
    if (width === undefined) throw new UnsupportedFusedOperatorError(node, 'a non-constant bias');
    const [qb, kb, vb] = emit.split(bias, [width / 3, width / 3, width / 3], 0, 3);
    q = addHeadBias(emit, q, qb, heads);
    k = addHeadBias(emit, k, kb, heads);
    v = addHeadBias(emit, v, vb, heads);
  }
  const pastKey = optionalInput(node, 6);
  const pastValue = optionalInput(node, 7);
  if (pastKey) k = b.op('Concat', [pastKey, k], { axis: 2 });
  if (pastValue) v = b.op('Concat', [pastValue, v], { axis: 2 });

  let additiveMask: string | undefined;
  const filter = floatAttribute(node, 'mask_filter_value') ?? -10000;
  const padding = optionalInput(node, 4);
  if (padding) {
    const rank = context.index.declaredDims(padding)?.length ?? 2;
    if (rank === 1) throw new UnsupportedFusedOperatorError(node, 'a 1-D key_padding_mask');
    additiveMask = paddingBias(emit, padding, rank, filter, elemType);
  }
  const attentionBias = optionalInput(node, 5);
  if (attentionBias) additiveMask = additiveMask ? b.op('Add', [additiveMask, attentionBias]) : attentionBias;

  const core = attentionCore(emit, {
    query: q,
    key: k,
    value: v,
    heads,
    kvHeads: heads,
    scale: floatAttribute(node, 'scale') || undefined,
    headDim,
    elemType,
    causal: intAttribute(node, 'unidirectional', 0) === 1,
    additiveMask,
  });
  mergeHeads(emit, core.output, node.output[0]);
  const presentKey = optionalOutput(node, 1);
  const presentValue = optionalOutput(node, 2);
  if (presentKey) emit.rename(k, presentKey);
  if (presentValue) emit.rename(v, presentValue);
  const qk = optionalOutput(node, 3);
  if (qk) emit.rename(core.scores, qk);
  return { probabilities: core.probabilities, scores: core.scores, query: core.query, key: core.key };
}

export function decomposeMicrosoftAttention(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const heads = intAttribute(node, 'num_heads', 0);
  if (intAttribute(node, 'past_present_share_buffer', 0)) throw new UnsupportedFusedOperatorError(node, 'past_present_share_buffer = 1');
  const elemType = floatTypeOf(context.index, node.input[1]);
  const weightDims = context.index.constantDims(node.input[1]);
  const hiddenSizes = (() => {
    const attribute = node.attribute.find((a) => a.name === 'qkv_hidden_sizes');
    if (attribute && attribute.ints.length === 3) return attribute.ints.map(Number);
    if (!weightDims) return undefined;
    const total = weightDims[weightDims.length - 1];
    return [total / 3, total / 3, total / 3];
  })();
  if (!hiddenSizes) throw new UnsupportedFusedOperatorError(node, 'non-constant weights without qkv_hidden_sizes');
  let projected = b.op('MatMul', [node.input[0], node.input[1]]);
  const bias = optionalInput(node, 2);
  if (bias) projected = b.op('Add', [projected, bias]);
  const [query, key, value] = emit.split(projected, hiddenSizes, 2, 3);
  let q = splitHeads(emit, query, heads);
  let k = splitHeads(emit, key, heads);
  let v = splitHeads(emit, value, heads);
  const past = optionalInput(node, 4);
  if (intAttribute(node, 'do_rotary', 0) === 1) [q, k] = rotateQueryKey(node, emit, q, k, { query, past, hiddenSizes, heads, elemType });
  if (past) {
    const [pastKey, pastValue] = emit.split(past, [1, 1], 0, 2).map((half) => emit.squeeze(half, [0]));
    k = b.op('Concat', [pastKey, k], { axis: 2 });
    v = b.op('Concat', [pastValue, v], { axis: 2 });
  }
  let additiveMask: string | undefined;
  let validKeyLengths: string | undefined;
  const filter = floatAttribute(node, 'mask_filter_value') ?? -10000;
  const mask = optionalInput(node, 3);
  if (mask) {
    const rank = context.index.declaredDims(mask)?.length ?? 2;
    if (rank === 1) validKeyLengths = b.op('Cast', [mask], { to: DataType.INT64 });
    else if (rank === 2 || rank === 3) additiveMask = paddingBias(emit, mask, rank, filter, elemType);
    else throw new UnsupportedFusedOperatorError(node, `a ${rank}-D mask_index`);
  }
  const attentionBias = optionalInput(node, 5);
  if (attentionBias) additiveMask = additiveMask ? b.op('Add', [additiveMask, attentionBias]) : attentionBias;
  const core = attentionCore(emit, {
    query: q,
    key: k,
    value: v,
    heads,
    kvHeads: heads,
    scale: floatAttribute(node, 'scale') || undefined,
    headDim: hiddenSizes[0] / heads,
    elemType,
    causal: intAttribute(node, 'unidirectional', 0) === 1,
    additiveMask,
    validKeyLengths,
  });
  mergeHeads(emit, core.output, node.output[0]);
  const present = optionalOutput(node, 1);
  if (present) b.ops('Concat', [emit.unsqueeze(k, [0]), emit.unsqueeze(v, [0])], { axis: 0 }, { outputNames: [present] });
  return { probabilities: core.probabilities, scores: core.scores, query: core.query, key: core.key };
}

/**
 * do_rotary = 1: rotary on Q and K (halves, not interleaved; base 10000; the first rotary_embedding_dim channels,
 * default the whole head) at positions past + 0 … S−1. The CUDA kernel (the only one; the CPU kernel refuses
 * do_rotary) gives every token of a step with a past the position `past`, which is the same for the one-token steps
 * it is meant for.
 */
function rotateQueryKey(
  node: NodeProto,
  emit: Emit,
  q: string,
  k: string,
  t: { query: string; past?: string; hiddenSizes: number[]; heads: number; elemType: number },
): [string, string] {
  const b = emit.b;
  if (t.hiddenSizes[0] !== t.hiddenSizes[1]) throw new UnsupportedFusedOperatorError(node, 'do_rotary = 1 with different query and key hidden sizes');
  const headDim = t.hiddenSizes[0] / t.heads;
  const rotaryDim = intAttribute(node, 'rotary_embedding_dim', 0) || headDim;
  if (rotaryDim > headDim || rotaryDim % 2 !== 0) throw new UnsupportedFusedOperatorError(node, `do_rotary = 1 with rotary_embedding_dim = ${rotaryDim} (head size ${headDim})`);
  const length = emit.squeeze(emit.dim(t.query, 1), [0]);
  const start = t.past ? emit.squeeze(emit.dim(t.past, 3), [0]) : b.int64(0, []);
  const positions = b.op('Range', [start, b.op('Add', [start, length]), b.int64(1, [])]);
  const { cos, sin } = rotaryTables(emit, positions, rotaryDim, t.elemType);
  const options = { interleaved: false, rotaryDim, headDim };
  return [applyRotary(emit, q, cos, sin, options), applyRotary(emit, k, cos, sin, options)];
}

export function decomposeOnnxAttention(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const qHeads = intAttribute(node, 'q_num_heads', 0);
  const kvHeadsAttribute = intAttribute(node, 'kv_num_heads', 0);
  const elemType = floatTypeOf(context.index, node.input[0]);
  const threeD = qHeads > 0;
  const queryDims = context.index.declaredDims(node.input[0]);
  if (!threeD && queryDims && queryDims.length !== 4) throw new UnsupportedFusedOperatorError(node, '3-D inputs without q_num_heads');
  if (optionalInput(node, 6)) throw new UnsupportedFusedOperatorError(node, 'nonpad_kv_seqlen');
  let q = node.input[0];
  let k = node.input[1];
  let v = node.input[2];
  let heads: number;
  let kvHeads: number;
  let headDim: number | undefined;
  if (threeD) {
    heads = qHeads;
    kvHeads = kvHeadsAttribute || qHeads;
    headDim = checkDivisible(node, staticLastDim(context.index, q), heads);
    q = splitHeads(emit, q, heads);
    k = splitHeads(emit, k, kvHeads);
    v = splitHeads(emit, v, kvHeads);
  } else {
    const qd = queryDims?.[1];
    const kd = context.index.declaredDims(k)?.[1];
    if (typeof qd !== 'number' || typeof kd !== 'number') throw new UnsupportedFusedOperatorError(node, '4-D inputs without static head counts');
    heads = qd;
    kvHeads = kd;
    const last = queryDims?.[3];
    headDim = typeof last === 'number' ? last : undefined;
  }
  const pastKey = optionalInput(node, 4);
  const pastValue = optionalInput(node, 5);
  if (pastKey) k = b.op('Concat', [pastKey, k], { axis: 2 });
  if (pastValue) v = b.op('Concat', [pastValue, v], { axis: 2 });
  let additiveMask: string | undefined;
  let keepMask: string | undefined;
  const mask = optionalInput(node, 3);
  if (mask) {
    if (context.index.declaredElemType(mask) === DataType.BOOL) keepMask = mask;
    else additiveMask = mask;
  }
  const core = attentionCore(emit, {
    query: q,
    key: k,
    value: v,
    heads,
    kvHeads,
    scale: floatAttribute(node, 'scale') || undefined,
    headDim,
    elemType,
    causal: intAttribute(node, 'is_causal', 0) === 1,
    softcap: floatAttribute(node, 'softcap'),
    additiveMask,
    keepMask,
  });
  if (threeD) mergeHeads(emit, core.output, node.output[0]);
  else emit.rename(core.output, node.output[0]);
  const presentKey = optionalOutput(node, 1);
  const presentValue = optionalOutput(node, 2);
  if (presentKey) emit.rename(k, presentKey);
  if (presentValue) emit.rename(v, presentValue);
  const qk = optionalOutput(node, 3);
  if (qk) {
    const mode = intAttribute(node, 'qk_matmul_output_mode', 0);
    if (mode !== 0 && mode !== 3) throw new UnsupportedFusedOperatorError(node, `qk_matmul_output_mode = ${mode}`);
    emit.rename(mode === 3 ? core.probabilities : core.scores, qk);
  }
  return { probabilities: core.probabilities, scores: core.scores, query: core.query, key: core.key };
}
