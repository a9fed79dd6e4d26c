// Two more attention forms for the fused llama twin (fused-llama.ts), both without a key/value cache: packed QKV
// needs query and key of one length, and com.microsoft Attention keeps its cache in one `past` tensor that optimum's
// cache inputs do not fit.
//   'mha-packed':       ONNX RotaryEmbedding (opset 23) on q and k, then MultiHeadAttention on packed QKV
//                       [B, S, N, 3, H] with attention_mask as key_padding_mask;
//   'attention-rotary': com.microsoft Attention over the normed hidden state with do_rotary = 1 (base 10000,
//                       positions 0 … S−1: right padding only).
// Neither runs on onnxruntime's CPU provider (packed QKV and do_rotary are CUDA-only); the engine explains them
// through its decompositions. KV heads are repeated in the weights (query head h reads kv head ⌊h / groups⌋), so
// grouped-query weights compute the same function as the plain llama graph.
import type { GraphBuilder } from '../onnx/graph-builder';
import type { Scope } from './scope';
import type { WeightSet } from './types';

const MICROSOFT = 'com.microsoft';

export interface FormShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
}

/** [rows, kvHeads·D] → [rows, heads·D]: each kv head's columns repeated for the query heads of its group. */
export function repeatKvColumns(weight: Float32Array, rows: number, s: FormShape): Float32Array {
  const groups = s.numHeads / s.numKvHeads;
  const inWidth = s.numKvHeads * s.headDim;
  const outWidth = s.numHeads * s.headDim;
  const out = new Float32Array(rows * outWidth);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < s.numHeads; h++) {
      const from = r * inWidth + Math.floor(h / groups) * s.headDim;
      out.set(weight.subarray(from, from + s.headDim), r * outWidth + h * s.headDim);
    }
  }
  return out;
}

/** Query, repeated key and repeated value weights [hidden, N·D] of one layer. */
function layerWeights(source: WeightSet, prefix: string, s: FormShape): [Float32Array, Float32Array, Float32Array] {
  const weight = (name: string) => source.weights[`${prefix}.self_attn.${name}.weight`];
  return [weight('q_proj'), repeatKvColumns(weight('k_proj'), s.hiddenSize, s), repeatKvColumns(weight('v_proj'), s.hiddenSize, s)];
}

export interface FormInputs {
  normed: string;
  prefix: string;
  /** attention_mask as int32 [B, T]. */
  mask: string;
  positionIds?: string;
  cosCache: string;
  sinCache: string;
}

/** ONNX RotaryEmbedding on q and k, then MultiHeadAttention on packed QKV. Returns the context [B, S, N·D]. */
export function packedMultiHeadAttention(g: GraphBuilder, attention: Scope, source: WeightSet, t: FormInputs, s: FormShape): string {
  const [wq, wk, wv] = layerWeights(source, t.prefix, s);
  const width = s.numHeads * s.headDim;
  const project = (name: string, data: Float32Array) => attention.child(name).op('MatMul', [t.normed, g.initializer(`${t.prefix}.self_attn.${name}.weight.packed_form`, data, [s.hiddenSize, width])]);
  const rotary = (x: string, name: string) =>
    attention.child(name).op('RotaryEmbedding', [x, t.cosCache, t.sinCache, t.positionIds!], { num_heads: s.numHeads, interleaved: 0 });
  const q = rotary(project('q_proj', wq), 'q_rotary');
  const k = rotary(project('k_proj', wk), 'k_rotary');
  const v = project('v_proj', wv);
  const five = g.int64([0, 0, s.numHeads, 1, s.headDim]);
  const packed = attention.op('Concat', [q, k, v].map((x) => attention.op('Reshape', [x, five])), { axis: 3 });
  return attention.op('MultiHeadAttention', [packed, '', '', '', t.mask], { num_heads: s.numHeads, unidirectional: 1, scale: { float: 1 / Math.sqrt(s.headDim) } }, { domain: MICROSOFT });
}

/** com.microsoft Attention with do_rotary = 1 over one [hidden, 3·N·D] weight. Returns the context [B, S, N·D]. */
export function rotaryAttention(g: GraphBuilder, attention: Scope, source: WeightSet, t: FormInputs, s: FormShape): string {
  const [wq, wk, wv] = layerWeights(source, t.prefix, s);
  const width = s.numHeads * s.headDim;
  const joined = new Float32Array(s.hiddenSize * 3 * width);
  for (let r = 0; r < s.hiddenSize; r++) {
    [wq, wk, wv].forEach((w, m) => joined.set(w.subarray(r * width, (r + 1) * width), (r * 3 + m) * width));
  }
  const weight = g.initializer(`${t.prefix}.self_attn.qkv_proj.weight`, joined, [s.hiddenSize, 3 * width]);
  const attributes = { num_heads: s.numHeads, unidirectional: 1, do_rotary: 1, scale: { float: 1 / Math.sqrt(s.headDim) } };
  return attention.op('Attention', [t.normed, weight, '', t.mask], attributes, { domain: MICROSOFT });
}
