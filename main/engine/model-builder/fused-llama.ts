// The llama-style model written the way onnxruntime-genai's model builder writes it, with the same weights
// as buildLlamaModel: com.microsoft SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization for
// RMSNorm, and either GroupQueryAttention (rotary inside, seqlens_k and total_sequence_length computed from
// attention_mask, no position_ids input) or RotaryEmbedding + MultiHeadAttention; optionally MatMulNBits
// 4-bit projection weights. Attention instrumentation decomposes these operators; these graphs test it.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../onnx/graph-builder';
import { Scope } from './scope';
import { causalMask, declareDecoderInputs, declareDecoderOutputs } from './decoder-graph';
import { addWeights, inverseFrequencies, layerPrefix, llamaConfig, llamaWeights, resolveLlamaSpec, type LlamaSpec } from './llama';
import { quantize4Bit } from './quantize';
import { gqaLayer, gqaShared, variantWeights, type GqaShared, type GqaVariant } from './gqa-variants';
import { packedMultiHeadAttention, rotaryAttention } from './fused-attention-forms';
import type { BuiltModel, WeightSet } from './types';

const MICROSOFT = 'com.microsoft';

export interface FusedLlamaOptions {
  /**
   * 'gqa': GroupQueryAttention (default); 'mha': RotaryEmbedding + MultiHeadAttention; 'mha-packed' and
   * 'attention-rotary': packed-QKV MultiHeadAttention and com.microsoft Attention with do_rotary, without a key/value
   * cache (fused-attention-forms.ts).
   */
  attention?: 'gqa' | 'mha' | 'mha-packed' | 'attention-rotary';
  /** Replace projection MatMuls with 4-bit MatMulNBits (block size `blockSize`, default 32). */
  quantize?: boolean;
  blockSize?: number;
  /** Look tokens up with 4-bit com.microsoft GatherBlockQuantized (blocks of `blockSize` along hidden), as q4 exports do. */
  quantizeEmbedding?: boolean;
  weights?: WeightSet;
  /** GroupQueryAttention form (attention 'gqa'): separate RotaryEmbedding, q/k norms, attention_bias, sinks. */
  gqa?: GqaVariant;
}

const EMBEDDING = 'model.embed_tokens.weight';

/** Projection weights that MatMulNBits replaces when quantizing. */
const PROJECTIONS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

/**
 * Builds the fused-operator twin of `buildLlamaModel(spec)`. The returned `weights` are the float weights
 * (for the quantized graph: the dequantized values the graph effectively uses).
 * GroupQueryAttention on CPU needs head_dim % 16 == 0.
 */
export function buildFusedLlamaModel(spec: LlamaSpec, options: FusedLlamaOptions = {}): BuiltModel {
  const s = resolveLlamaSpec(spec);
  const attentionKind = options.attention ?? 'gqa';
  const blockSize = options.blockSize ?? 32;
  const variant = options.gqa ?? {};
  const base = options.weights ?? llamaWeights(spec);
  const extra = variantWeights(variant, s, s.numLayers);
  const source: WeightSet = { weights: { ...base.weights, ...extra.weights }, shapes: { ...base.shapes, ...extra.shapes } };
  const g = new GraphBuilder('main_graph');
  const cached = attentionKind === 'gqa' || attentionKind === 'mha';
  if (attentionKind === 'attention-rotary' && s.ropeTheta !== 10000) throw new Error('attention-rotary: do_rotary uses base 10000; the spec asks for another rope_theta');
  const cacheLayers = cached ? s.numLayers : 0;
  const positionIds = attentionKind === 'mha' || attentionKind === 'mha-packed';
  const io = declareDecoderInputs(g, { layers: cacheLayers, kvHeads: s.numKvHeads, headDim: s.headDim, positionIds });

  // Float initializers for everything not quantized; MatMulNBits inputs for the projections.
  const effective: WeightSet = { weights: { ...source.weights }, shapes: { ...source.shapes } };
  const quantized = new Set<string>();
  const floatSet: WeightSet = { weights: {}, shapes: {} };
  for (const [name, data] of Object.entries(source.weights)) {
    // The cache-free forms hold their own (kv-head-repeated) q/k/v weights.
    if (!cached && /self_attn\.[qkv]_proj\.weight$/.test(name)) continue;
    if ((options.quantize && PROJECTIONS.some((p) => name.endsWith(`${p}.weight`))) || (options.quantizeEmbedding && name === EMBEDDING)) {
      quantized.add(name);
      continue;
    }
    floatSet.weights[name] = data;
    floatSet.shapes[name] = source.shapes[name];
  }
  const w = addWeights(g, floatSet);

  const linear = (scope: Scope, x: string, weightName: string): string => {
    if (!quantized.has(weightName)) return scope.op('MatMul', [x, w[weightName]]);
    const [k, n] = source.shapes[weightName];
    const q = quantize4Bit(source.weights[weightName], k, n, blockSize);
    effective.weights[weightName] = q.dequantized;
    const packed = g.initializer(`${weightName}.quant`, q.packed, [n, q.blocks, blockSize / 2]);
    const scales = g.initializer(`${weightName}.scales`, q.scales, [n * q.blocks]);
    return scope.op('MatMulNBits', [x, packed, scales], { K: k, N: n, bits: 4, block_size: blockSize, accuracy_level: 0 }, { domain: MICROSOFT });
  };

  const model = new Scope(g, '/model');
  const embeddings = options.quantizeEmbedding
    ? quantizedLookup(g, model.child('embed_tokens'), source, effective, io.inputIds, blockSize)
    : model.child('embed_tokens').op('Gather', [w[EMBEDDING], io.inputIds], { axis: 0 });
  const half = s.headDim / 2;
  const frequencies = inverseFrequencies(s.headDim, s.ropeTheta);
  const table = (fn: (x: number) => number) =>
    Array.from({ length: s.maxPositions * half }, (_, i) => fn(Math.floor(i / half) * frequencies[i % half]));
  // com.microsoft Attention's do_rotary computes its own angles: no caches.
  const caches = attentionKind !== 'attention-rotary';
  const cosCache = caches ? g.initializer('cos_cache', Float32Array.from(table(Math.cos)), [s.maxPositions, half]) : '';
  const sinCache = caches ? g.initializer('sin_cache', Float32Array.from(table(Math.sin)), [s.maxPositions, half]) : '';

  // GroupQueryAttention takes per-row lengths; MultiHeadAttention takes our additive mask as attention_bias.
  let shared: GqaShared | undefined;
  let mask = '';
  if (attentionKind === 'gqa') {
    const reformat = model.child('attn_mask_reformat').child('attn_mask_subgraph');
    const lengths = reformat.op('ReduceSum', [io.attentionMask, g.int64([1])], { keepdims: 0 });
    const seqlensK = reformat.op('Cast', [reformat.op('Sub', [lengths, g.int64(1, [])])], { to: DataType.INT32 });
    const total = reformat.op('Gather', [reformat.op('Shape', [io.attentionMask]), g.int64(1, [])], { axis: 0 });
    const totalLength = reformat.op('Cast', [total], { to: DataType.INT32 });
    shared = gqaShared(model, io, { seqlensK, totalLength, cosCache, sinCache }, variant, s.numHeads);
  } else if (attentionKind === 'mha') {
    mask = causalMask(model, io.inputIds, io.attentionMask);
  } else {
    mask = model.op('Cast', [io.attentionMask], { to: DataType.INT32 });
  }

  let residual = embeddings;
  let normed = model
    .child('layers.0')
    .child('input_layernorm')
    .op('SimplifiedLayerNormalization', [embeddings, w['model.layers.0.input_layernorm.weight']], { axis: -1, epsilon: { float: s.rmsNormEps }, stash_type: 1 });
  let pending = ''; // the MLP output of the previous layer, added to the residual by the next norm

  for (let layer = 0; layer < s.numLayers; layer++) {
    const scope = model.child(`layers.${layer}`);
    const p = layerPrefix(layer);
    if (layer > 0) [normed, residual] = skipNorm(scope.child('input_layernorm'), pending, residual, w[`${p}.input_layernorm.weight`], s.rmsNormEps);
    const attention = scope.child('attn');
    const present = [`present.${layer}.key`, `present.${layer}.value`];
    const projections = () => (['q_proj', 'k_proj', 'v_proj'] as const).map((name) => linear(attention.child(name), normed, `${p}.self_attn.${name}.weight`));
    let context: string;
    if (!cached) {
      const form = attentionKind === 'mha-packed' ? packedMultiHeadAttention : rotaryAttention;
      context = form(g, attention, source, { normed, prefix: p, mask, positionIds: io.positionIds, cosCache, sinCache }, s);
    } else if (shared) {
      const [q, k, v] = projections();
      context = gqaLayer(attention, { q, k, v, pastKey: io.pastKeys[layer], pastValue: io.pastValues[layer], present, weights: w, layer }, shared, variant, s);
    } else {
      const [q, k, v] = projections();
      context = multiHeadAttention(attention, { q, k, v, layer, mask, cosCache, sinCache, positionIds: io.positionIds!, pastKey: io.pastKeys[layer], pastValue: io.pastValues[layer] }, s);
    }
    const attended = linear(attention.child('o_proj'), context, `${p}.self_attn.o_proj.weight`);
    [normed, residual] = skipNorm(scope.child('post_attention_layernorm'), attended, residual, w[`${p}.post_attention_layernorm.weight`], s.rmsNormEps);
    const mlp = scope.child('mlp');
    const gate = linear(mlp.child('gate_proj'), normed, `${p}.mlp.gate_proj.weight`);
    const activation = mlp.child('act_fn');
    const silu = activation.op('Mul', [gate, activation.op('Sigmoid', [gate])]);
    const up = linear(mlp.child('up_proj'), normed, `${p}.mlp.up_proj.weight`);
    pending = linear(mlp.child('down_proj'), mlp.op('Mul', [silu, up]), `${p}.mlp.down_proj.weight`);
  }
  const [final] = skipNorm(model.child('norm'), pending, residual, w['model.norm.weight'], s.rmsNormEps);
  new Scope(g, '/lm_head').op('MatMul', [final, w['lm_head.weight']], {}, { outputNames: ['logits'] });
  declareDecoderOutputs(g, { layers: cacheLayers, kvHeads: s.numKvHeads, headDim: s.headDim, vocab: s.vocabSize });
  // The ONNX-domain RotaryEmbedding of 'mha-packed' needs opset 23.
  return { model: g.build({ '': attentionKind === 'mha-packed' ? 23 : 17, [MICROSOFT]: 1 }), config: llamaConfig(spec), weights: effective.weights, shapes: effective.shapes };
}

/**
 * GatherBlockQuantized over the 4-bit table: uint8 [vocab, hidden/2] (low nibble first), scales [vocab, blocks],
 * default zero point 8; the table's dequantized values go into `effective`.
 */
function quantizedLookup(g: GraphBuilder, scope: Scope, source: WeightSet, effective: WeightSet, ids: string, blockSize: number): string {
  const [vocab, hidden] = source.shapes[EMBEDDING];
  if (hidden % blockSize !== 0) throw new Error(`quantizeEmbedding: hidden size ${hidden} is not a multiple of the block size ${blockSize}`);
  const table = source.weights[EMBEDDING];
  // quantize4Bit blocks along the first axis of a [K, N] matrix: pass the table transposed, [hidden, vocab].
  const transposed = new Float32Array(vocab * hidden);
  for (let v = 0; v < vocab; v++) for (let h = 0; h < hidden; h++) transposed[h * vocab + v] = table[v * hidden + h];
  const q = quantize4Bit(transposed, hidden, vocab, blockSize);
  const dequantized = new Float32Array(vocab * hidden);
  for (let v = 0; v < vocab; v++) for (let h = 0; h < hidden; h++) dequantized[v * hidden + h] = q.dequantized[h * vocab + v];
  effective.weights[EMBEDDING] = dequantized;
  const data = g.initializer(`${EMBEDDING}.quant`, q.packed, [vocab, hidden / 2]);
  const scales = g.initializer(`${EMBEDDING}.scales`, q.scales, [vocab, q.blocks]);
  return scope.op('GatherBlockQuantized', [data, ids, scales], { bits: 4, block_size: blockSize, gather_axis: 0, quantize_axis: 1 }, { domain: MICROSOFT });
}

/** SkipSimplifiedLayerNormalization: returns [RMSNorm(x + residual)·weight, x + residual]. */
function skipNorm(scope: Scope, x: string, residual: string, weight: string, eps: number): [string, string] {
  const outputs = scope.ops('SkipSimplifiedLayerNormalization', [x, residual, weight], { epsilon: { float: eps } }, {
    domain: MICROSOFT,
    outputNames: [`${scope.path}/SkipLayerNorm_output_0`, '', '', `${scope.path}/SkipLayerNorm_output_3`],
  });
  return [outputs[0], outputs[3]];
}

/**
 * RotaryEmbedding on q and k, the cache concatenated outside the operator (so `present` keeps the KV heads),
 * KV heads repeated, then MultiHeadAttention on 3-D tensors with the additive mask as attention_bias.
 */
function multiHeadAttention(
  attention: Scope,
  t: { q: string; k: string; v: string; layer: number; mask: string; cosCache: string; sinCache: string; positionIds: string; pastKey: string; pastValue: string },
  s: ReturnType<typeof resolveLlamaSpec>,
): string {
  const g = attention.graph;
  const rotary = (x: string, heads: number, which: string) =>
    attention.child(which).op('RotaryEmbedding', [x, t.positionIds, t.cosCache, t.sinCache], { interleaved: 0, num_heads: heads }, { domain: MICROSOFT });
  const q = rotary(t.q, s.numHeads, 'q_rotary');
  const k = rotary(t.k, s.numKvHeads, 'k_rotary');
  const toHeads = (x: string, heads: number) =>
    attention.op('Transpose', [attention.op('Reshape', [x, g.int64([0, 0, heads, s.headDim])])], { perm: [0, 2, 1, 3] });
  const presentKey = attention.op('Concat', [t.pastKey, toHeads(k, s.numKvHeads)], { axis: 2 }, { outputNames: [`present.${t.layer}.key`] });
  const presentValue = attention.op('Concat', [t.pastValue, toHeads(t.v, s.numKvHeads)], { axis: 2 }, { outputNames: [`present.${t.layer}.value`] });
  const groups = s.numHeads / s.numKvHeads;
  const flatten = (x: string) => {
    const repeated =
      groups === 1
        ? x
        : attention.op('Reshape', [attention.op('Expand', [attention.op('Unsqueeze', [x, g.int64([2])]), g.int64([1, 1, groups, 1, 1])]), g.int64([0, s.numHeads, -1, s.headDim])]);
    return attention.op('Reshape', [attention.op('Transpose', [repeated], { perm: [0, 2, 1, 3] }), g.int64([0, 0, s.numHeads * s.headDim])]);
  };
  return attention.op(
    'MultiHeadAttention',
    [q, flatten(presentKey), flatten(presentValue), '', '', t.mask],
    { num_heads: s.numHeads, unidirectional: 0, scale: { float: 1 / Math.sqrt(s.headDim) } },
    { domain: MICROSOFT },
  );
}
