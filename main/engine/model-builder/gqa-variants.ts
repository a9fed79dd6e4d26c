// GroupQueryAttention layer forms that onnxruntime-genai's model builder writes besides "rotary inside the
// operator": com.microsoft RotaryEmbedding nodes on the 3-D q and k (positions computed in the graph from
// attention_mask, no position_ids input) with do_rotary = 0; per-head RMSNorm on q and k before rotary
// (Qwen3/Gemma3: Reshape → SimplifiedLayerNormalization → Reshape); an attention_bias input; attention sinks
// (smooth_softmax, head_sink as in gpt-oss). Used by fused-llama.ts to build the fixtures that test these
// decompositions against onnxruntime's own kernels.
import { DataType } from '../onnx/proto';
import { gaussian } from './random';
import type { Scope } from './scope';
import type { WeightSet } from './types';

const MICROSOFT = 'com.microsoft';

export interface GqaVariant {
  /** 'inside' (default): GroupQueryAttention do_rotary = 1. 'separate': RotaryEmbedding nodes, do_rotary = 0. */
  rotary?: 'inside' | 'separate';
  /**
   * RotaryEmbedding's position_ids (separate rotary), computed from attention_mask: 'offset' (default) the 1-D
   * form [1] = total − seq (one start for every row); 'cumsum' [batch, seq] = cumsum(mask) − 1.
   */
  positions?: 'offset' | 'cumsum';
  /** RMSNorm per head on q and k before rotary, weights `…self_attn.q_norm.weight` / `k_norm.weight` [head_dim]. */
  qkNorm?: boolean;
  /** An ALiBi-style bias slope_h · (key − query) [1, heads, seq, total] fed as attention_bias. */
  attentionBias?: boolean;
  /** 'smooth': smooth_softmax = 1; 'head': a learned logit per head (`…self_attn.sinks`) as head_sink. */
  sink?: 'smooth' | 'head';
}

export interface GqaShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  seed: number;
}

/** The extra weights a variant needs per layer, drawn like the others (per-name streams of the model seed). */
export function variantWeights(variant: GqaVariant, s: GqaShape, layers: number): WeightSet {
  const set: WeightSet = { weights: {}, shapes: {} };
  const add = (name: string, dims: number[], std: number, mean = 0) => {
    set.weights[name] = gaussian(s.seed, name, dims.reduce((a, b) => a * b, 1), std, mean);
    set.shapes[name] = dims;
  };
  for (let layer = 0; layer < layers; layer++) {
    const p = `model.layers.${layer}.self_attn`;
    if (variant.qkNorm) {
      add(`${p}.q_norm.weight`, [s.headDim], 0.1, 1);
      add(`${p}.k_norm.weight`, [s.headDim], 0.1, 1);
    }
    if (variant.sink === 'head') add(`${p}.sinks`, [s.numHeads], 1);
  }
  return set;
}

/** Graph tensors shared by all layers. */
export interface GqaShared {
  seqlensK: string;
  totalLength: string;
  cosCache: string;
  sinCache: string;
  /** [batch, seq] int64 positions (separate rotary only). */
  positions?: string;
  /** [1, heads, seq, total] (attentionBias only). */
  bias?: string;
}

/**
 * Positions of the new tokens from attention_mask, as exports without a position_ids input compute them.
 * 'offset': total − seq as a 1-D [1] tensor. 'cumsum': cumsum(mask) − 1 over the whole (past + new) mask,
 * clamped at 0 for padding, last `seq` columns kept.
 */
export function positionsFromMask(scope: Scope, inputIds: string, attentionMask: string, form: 'offset' | 'cumsum'): string {
  const g = scope.graph;
  const one = g.int64(1, []);
  if (form === 'offset') {
    const sequence = scope.op('Gather', [scope.op('Shape', [inputIds]), g.int64([1])], { axis: 0 });
    const total = scope.op('Gather', [scope.op('Shape', [attentionMask]), g.int64([1])], { axis: 0 });
    return scope.op('Sub', [total, sequence]);
  }
  const counted = scope.op('Sub', [scope.op('CumSum', [attentionMask, one]), g.int64(1, [])]);
  const clamped = scope.op('Max', [counted, g.int64(0, [])]);
  const sequence = scope.op('Gather', [scope.op('Shape', [inputIds]), g.int64([1])], { axis: 0 });
  const total = scope.op('Gather', [scope.op('Shape', [attentionMask]), g.int64([1])], { axis: 0 });
  return scope.op('Slice', [clamped, scope.op('Sub', [total, sequence]), total, g.int64([1])]);
}

/** slope_h · (key − query) with query at absolute index past + q; slopes 2^(−8(h+1)/H) as in ALiBi. */
export function alibiBias(scope: Scope, inputIds: string, attentionMask: string, heads: number): string {
  const g = scope.graph;
  const one = g.int64(1, []);
  const sequence = scope.op('Gather', [scope.op('Shape', [inputIds]), one], { axis: 0 });
  const total = scope.op('Gather', [scope.op('Shape', [attentionMask]), one], { axis: 0 });
  const keys = scope.op('Range', [g.int64(0, []), total, one]);
  const queries = scope.op('Range', [scope.op('Sub', [total, sequence]), total, one]);
  const distance = scope.op('Sub', [scope.op('Unsqueeze', [keys, g.int64([0])]), scope.op('Unsqueeze', [queries, g.int64([1])])]);
  const slopes = g.float(Array.from({ length: heads }, (_, h) => 2 ** ((-8 * (h + 1)) / heads)), [1, heads, 1, 1]);
  return scope.op('Mul', [scope.op('Cast', [distance], { to: DataType.FLOAT }), slopes]);
}

/** RMSNorm over each head of a [batch, seq, heads·dim] tensor. */
function headNorm(scope: Scope, x: string, weight: string, heads: number, s: GqaShape): string {
  const g = scope.graph;
  const split = scope.op('Reshape', [x, g.int64([0, 0, heads, s.headDim])]);
  const normed = scope.op('SimplifiedLayerNormalization', [split, weight], { axis: -1, epsilon: { float: s.rmsNormEps }, stash_type: 1 });
  return scope.op('Reshape', [normed, g.int64([0, 0, heads * s.headDim])]);
}

/**
 * One GroupQueryAttention layer in the chosen form; returns its output [batch, seq, heads·dim] and writes
 * `present` under the given names.
 */
export function gqaLayer(
  attention: Scope,
  t: { q: string; k: string; v: string; pastKey: string; pastValue: string; present: string[]; weights: Record<string, string>; layer: number },
  shared: GqaShared,
  variant: GqaVariant,
  s: GqaShape,
): string {
  const p = `model.layers.${t.layer}.self_attn`;
  let { q, k } = t;
  if (variant.qkNorm) {
    q = headNorm(attention.child('q_norm'), q, t.weights[`${p}.q_norm.weight`], s.numHeads, s);
    k = headNorm(attention.child('k_norm'), k, t.weights[`${p}.k_norm.weight`], s.numKvHeads, s);
  }
  const separate = variant.rotary === 'separate';
  if (separate) {
    const rotary = (x: string, heads: number, which: string) =>
      attention
        .child(which)
        .op('RotaryEmbedding', [x, shared.positions!, shared.cosCache, shared.sinCache], { interleaved: 0, num_heads: heads }, { domain: MICROSOFT });
    q = rotary(q, s.numHeads, 'q_rotary');
    k = rotary(k, s.numKvHeads, 'k_rotary');
  }
  const inputs = [q, k, t.v, t.pastKey, t.pastValue, shared.seqlensK, shared.totalLength, separate ? '' : shared.cosCache, separate ? '' : shared.sinCache];
  const extra = ['', shared.bias ?? '', variant.sink === 'head' ? t.weights[`${p}.sinks`] : ''];
  while (extra.length > 0 && extra[extra.length - 1] === '') extra.pop();
  inputs.push(...extra);
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return attention.ops(
    'GroupQueryAttention',
    inputs,
    {
      num_heads: s.numHeads,
      kv_num_heads: s.numKvHeads,
      do_rotary: separate ? 0 : 1,
      rotary_interleaved: 0,
      scale: { float: 1 / Math.sqrt(s.headDim) },
      smooth_softmax: variant.sink === 'smooth' ? 1 : undefined,
    },
    { domain: MICROSOFT, outputNames: [`${attention.path}/GroupQueryAttention_output_0`, ...t.present] },
  )[0];
}

/** The tensors every layer shares, given the mask-derived lengths and the rotary caches. */
export function gqaShared(
  model: Scope,
  io: { inputIds: string; attentionMask: string },
  base: { seqlensK: string; totalLength: string; cosCache: string; sinCache: string },
  variant: GqaVariant,
  heads: number,
): GqaShared {
  const shared: GqaShared = { ...base };
  if (variant.rotary === 'separate') shared.positions = positionsFromMask(model.child('pos_ids_reformat'), io.inputIds, io.attentionMask, variant.positions ?? 'offset');
  if (variant.attentionBias) shared.bias = alibiBias(model.child('attn_bias'), io.inputIds, io.attentionMask, heads);
  return shared;
}
