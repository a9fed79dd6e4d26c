// Encoder-decoder (seq2seq) fixture architectures: what differs between the BART, T5 and Marian families, their
// seeded weights under the families' own Hugging Face names, and their config.json objects.
// - BART: learned positions with offset 2, layernorm_embedding, post-LN blocks, GELU, tied lm_head, final_logits_bias.
// - T5 (v1.1 / flan style): no position embeddings but a relative position bias (bucketed, computed in layer 0 and
//   shared by every layer), RMSNorm pre-LN blocks, unscaled scores, gated-gelu FFN, untied lm_head, d_kv · heads ≠ d_model.
// - Marian: sinusoidal positions, embeddings scaled by √d_model, post-LN blocks, SiLU, tied lm_head, final_logits_bias.
import { gaussian } from './random';
import type { WeightSet } from './types';

export type Seq2SeqFamily = 'bart' | 't5' | 'marian';

export interface Seq2SeqSpec {
  family: Seq2SeqFamily;
  vocabSize: number;
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  /** Per-head width; T5's d_kv. Default dModel / heads (BART and Marian require that). */
  headDim?: number;
  ffnDim: number;
  /** Learned / sinusoidal position table length (BART, Marian). Default 64. */
  maxPositions?: number;
  /** T5 relative attention: bucket count and max distance. Defaults 32 and 128. */
  relativeBuckets?: number;
  relativeMaxDistance?: number;
  padTokenId: number;
  eosTokenId: number;
  bosTokenId?: number;
  decoderStartTokenId: number;
  forcedBosTokenId?: number;
  forcedEosTokenId?: number;
  /** config.json task_specific_params (T5 prefixes). */
  taskSpecificParams?: Record<string, Record<string, unknown>>;
  seed?: number;
}

export type Seq2SeqShape = Required<Omit<Seq2SeqSpec, 'bosTokenId' | 'forcedBosTokenId' | 'forcedEosTokenId' | 'taskSpecificParams'>> &
  Pick<Seq2SeqSpec, 'bosTokenId' | 'forcedBosTokenId' | 'forcedEosTokenId' | 'taskSpecificParams'>;

export function resolveSeq2SeqSpec(spec: Seq2SeqSpec): Seq2SeqShape {
  const headDim = spec.headDim ?? spec.dModel / spec.heads;
  if (spec.family !== 't5' && headDim * spec.heads !== spec.dModel) throw new Error(`${spec.family} spec: d_model must equal heads · head_dim`);
  return { maxPositions: 64, relativeBuckets: 32, relativeMaxDistance: 128, seed: 1, ...spec, headDim };
}

/** What the graph builder and the reference need per family. */
export interface FamilyTraits {
  /** LayerNorm after each residual add (BART, Marian) rather than RMSNorm before each block (T5). */
  postNorm: boolean;
  positions: 'learned' | 'sinusoidal' | 'relative';
  /** Learned position index offset (BART: 2). */
  positionOffset: number;
  embedScale: (s: Seq2SeqShape) => number;
  layerNormEmbedding: boolean;
  activation: 'gelu' | 'silu' | 'gated-gelu_new';
  /** Scores scaled by 1/√head_dim (T5 folds it into the weights). */
  scaled: boolean;
  /** Linear layers carry biases. */
  biases: boolean;
  tiedHead: boolean;
  finalLogitsBias: boolean;
  normEps: number;
}

export const FAMILY_TRAITS: Record<Seq2SeqFamily, FamilyTraits> = {
  bart: { postNorm: true, positions: 'learned', positionOffset: 2, embedScale: () => 1, layerNormEmbedding: true, activation: 'gelu', scaled: true, biases: true, tiedHead: true, finalLogitsBias: true, normEps: 1e-5 },
  marian: { postNorm: true, positions: 'sinusoidal', positionOffset: 0, embedScale: (s) => Math.sqrt(s.dModel), layerNormEmbedding: false, activation: 'silu', scaled: true, biases: true, tiedHead: true, finalLogitsBias: true, normEps: 1e-5 },
  t5: { postNorm: false, positions: 'relative', positionOffset: 0, embedScale: () => 1, layerNormEmbedding: false, activation: 'gated-gelu_new', scaled: false, biases: false, tiedHead: false, finalLogitsBias: false, normEps: 1e-6 },
};

export type AttentionKind = 'self' | 'cross';
export type Side = 'encoder' | 'decoder';

/** Weight-name prefixes of one layer, in the family's checkpoint naming. Append `.weight` / `.bias`. */
export interface LayerNames {
  attention: Record<AttentionKind, { q: string; k: string; v: string; o: string; norm: string } | undefined>;
  ffnIn: string[];
  ffnOut: string;
  ffnNorm: string;
}

export function layerNames(family: Seq2SeqFamily, side: Side, layer: number): LayerNames {
  if (family === 't5') {
    const p = `${side}.block.${layer}.layer`;
    const attention = (index: number, module: string) => ({ q: `${p}.${index}.${module}.q`, k: `${p}.${index}.${module}.k`, v: `${p}.${index}.${module}.v`, o: `${p}.${index}.${module}.o`, norm: `${p}.${index}.layer_norm` });
    const ffn = side === 'encoder' ? 1 : 2;
    return {
      attention: { self: attention(0, 'SelfAttention'), cross: side === 'decoder' ? attention(1, 'EncDecAttention') : undefined },
      ffnIn: [`${p}.${ffn}.DenseReluDense.wi_0`, `${p}.${ffn}.DenseReluDense.wi_1`],
      ffnOut: `${p}.${ffn}.DenseReluDense.wo`,
      ffnNorm: `${p}.${ffn}.layer_norm`,
    };
  }
  const p = `model.${side}.layers.${layer}`;
  const attention = (module: string) => ({ q: `${p}.${module}.q_proj`, k: `${p}.${module}.k_proj`, v: `${p}.${module}.v_proj`, o: `${p}.${module}.out_proj`, norm: `${p}.${module}_layer_norm` });
  return {
    attention: { self: attention('self_attn'), cross: side === 'decoder' ? attention('encoder_attn') : undefined },
    ffnIn: [`${p}.fc1`],
    ffnOut: `${p}.fc2`,
    ffnNorm: `${p}.final_layer_norm`,
  };
}

/** Names of the non-layer weights. */
export function modelNames(family: Seq2SeqFamily) {
  const t5 = family === 't5';
  return {
    shared: t5 ? 'shared.weight' : 'model.shared.weight',
    positions: (side: Side) => `model.${side}.embed_positions.weight`,
    embeddingNorm: (side: Side) => `model.${side}.layernorm_embedding`,
    /** T5's final RMSNorm of each stack. */
    finalNorm: (side: Side) => `${side}.final_layer_norm`,
    relativeBias: (side: Side) => `${side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`,
    lmHead: 'lm_head.weight',
    finalLogitsBias: 'final_logits_bias',
  };
}

/**
 * Seeded weights. MatMul weights are stored [in, out] (the graph's layout). Query/key columns get a larger scale
 * than values so that attention is neither uniform nor one-hot; T5's query carries the 1/√d_kv its scores lack.
 */
export function seq2seqWeights(spec: Seq2SeqSpec): WeightSet {
  const s = resolveSeq2SeqSpec(spec);
  const traits = FAMILY_TRAITS[s.family];
  const names = modelNames(s.family);
  const weights: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  const normal = (name: string, dims: number[], std: number, mean = 0) => {
    weights[name] = gaussian(s.seed, name, dims.reduce((a, b) => a * b, 1), std, mean);
    shapes[name] = dims;
  };
  const d = s.dModel;
  const inner = s.heads * s.headDim;
  const linear = (prefix: string, inputs: number, outputs: number, std: number) => {
    normal(`${prefix}.weight`, [inputs, outputs], std);
    if (traits.biases) normal(`${prefix}.bias`, [outputs], 0.05);
  };
  const norm = (prefix: string) => {
    normal(`${prefix}.weight`, [d], 0.1, 1);
    if (traits.postNorm) normal(`${prefix}.bias`, [d], 0.05);
  };
  normal(names.shared, [s.vocabSize, d], traits.embedScale(s) === 1 ? 1 : 1 / traits.embedScale(s));
  for (const side of ['encoder', 'decoder'] as const) {
    if (traits.positions === 'learned') normal(names.positions(side), [s.maxPositions + traits.positionOffset, d], 0.3);
    if (traits.positions === 'sinusoidal') {
      weights[names.positions(side)] = sinusoidalTable(s.maxPositions, d);
      shapes[names.positions(side)] = [s.maxPositions, d];
    }
    if (traits.layerNormEmbedding) norm(names.embeddingNorm(side));
    if (traits.positions === 'relative') normal(names.relativeBias(side), [s.relativeBuckets, s.heads], 1);
    if (!traits.postNorm) normal(`${names.finalNorm(side)}.weight`, [d], 0.1, 1);
    const layers = side === 'encoder' ? s.encoderLayers : s.decoderLayers;
    for (let layer = 0; layer < layers; layer++) {
      const l = layerNames(s.family, side, layer);
      for (const attention of [l.attention.self, l.attention.cross]) {
        if (!attention) continue;
        const queryScale = traits.scaled ? 1 : 1 / Math.sqrt(s.headDim);
        linear(attention.q, d, inner, (1.5 * queryScale) / Math.sqrt(d));
        linear(attention.k, d, inner, 1.5 / Math.sqrt(d));
        linear(attention.v, d, inner, 1 / Math.sqrt(d));
        linear(attention.o, inner, d, 2 / Math.sqrt(inner));
        norm(attention.norm);
      }
      for (const input of l.ffnIn) linear(input, d, s.ffnDim, 1 / Math.sqrt(d));
      linear(l.ffnOut, s.ffnDim, d, 2 / Math.sqrt(s.ffnDim));
      norm(l.ffnNorm);
    }
  }
  if (!traits.tiedHead) normal(names.lmHead, [d, s.vocabSize], 1 / Math.sqrt(d));
  if (traits.finalLogitsBias) normal(names.finalLogitsBias, [1, s.vocabSize], 0.5);
  return { weights, shapes };
}

/** config.json with each family's own field names. */
export function seq2seqConfig(spec: Seq2SeqSpec): Record<string, unknown> {
  const s = resolveSeq2SeqSpec(spec);
  const ids = {
    pad_token_id: s.padTokenId,
    eos_token_id: s.eosTokenId,
    ...(s.bosTokenId !== undefined ? { bos_token_id: s.bosTokenId } : {}),
    decoder_start_token_id: s.decoderStartTokenId,
    ...(s.forcedBosTokenId !== undefined ? { forced_bos_token_id: s.forcedBosTokenId } : {}),
    ...(s.forcedEosTokenId !== undefined ? { forced_eos_token_id: s.forcedEosTokenId } : {}),
  };
  const common = { is_encoder_decoder: true, vocab_size: s.vocabSize, use_cache: true, torch_dtype: 'float32', transformers_version: '4.46.0', ...ids };
  if (s.family === 't5') {
    return {
      architectures: ['T5ForConditionalGeneration'],
      model_type: 't5',
      d_model: s.dModel,
      d_kv: s.headDim,
      d_ff: s.ffnDim,
      num_layers: s.encoderLayers,
      num_decoder_layers: s.decoderLayers,
      num_heads: s.heads,
      relative_attention_num_buckets: s.relativeBuckets,
      relative_attention_max_distance: s.relativeMaxDistance,
      feed_forward_proj: 'gated-gelu',
      dense_act_fn: 'gelu_new',
      is_gated_act: true,
      layer_norm_epsilon: 1e-6,
      tie_word_embeddings: false,
      dropout_rate: 0.1,
      ...(s.taskSpecificParams ? { task_specific_params: s.taskSpecificParams } : {}),
      ...common,
    };
  }
  const bart = s.family === 'bart';
  return {
    architectures: [bart ? 'BartForConditionalGeneration' : 'MarianMTModel'],
    model_type: s.family,
    d_model: s.dModel,
    encoder_layers: s.encoderLayers,
    decoder_layers: s.decoderLayers,
    encoder_attention_heads: s.heads,
    decoder_attention_heads: s.heads,
    encoder_ffn_dim: s.ffnDim,
    decoder_ffn_dim: s.ffnDim,
    max_position_embeddings: s.maxPositions,
    activation_function: bart ? 'gelu' : 'swish',
    scale_embedding: !bart,
    normalize_before: false,
    add_final_layer_norm: false,
    tie_word_embeddings: true,
    num_hidden_layers: s.encoderLayers,
    ...(s.taskSpecificParams ? { task_specific_params: s.taskSpecificParams } : {}),
    ...common,
  };
}

/** Marian's fixed table: sin(p / 10000^(2j/d)) in the first half of the columns, cos of the same angles in the second. */
export function sinusoidalTable(positions: number, width: number): Float32Array {
  const table = new Float32Array(positions * width);
  const half = width / 2;
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p / 10000 ** ((2 * j) / width);
      table[p * width + j] = Math.sin(angle);
      table[p * width + half + j] = Math.cos(angle);
    }
  }
  return table;
}
