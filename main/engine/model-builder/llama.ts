// Llama-style decoder written the way optimum exports it: decomposed RMSNorm, rotary embeddings from
// position_ids (rotate_half convention), grouped-query attention with plain MatMul/Softmax, SwiGLU MLP and an
// untied lm_head, all in the standard ONNX domain at opset 17.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../onnx/graph-builder';
import { gaussian } from './random';
import { Scope } from './scope';
import { cachedAttention, causalMask, declareDecoderInputs, declareDecoderOutputs, rmsNorm, splitHeads } from './decoder-graph';
import type { BuiltModel, WeightSet } from './types';

/** Architecture of a llama-style model. Field names follow config.json where one exists. */
export interface LlamaSpec {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Defaults to hiddenSize / numHeads. */
  headDim?: number;
  rmsNormEps?: number;
  ropeTheta?: number;
  maxPositions?: number;
  bosTokenId?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
  /** Seed of the random weights (default 1). */
  seed?: number;
}

export interface LlamaOptions {
  /** Weights to use instead of drawing them from the seed (e.g. trained weights, or a twin's). */
  weights?: WeightSet;
}

/** Resolved spec with every default filled in. */
export type LlamaShape = Required<Omit<LlamaSpec, 'padTokenId'>> & { padTokenId?: number };

export function resolveLlamaSpec(spec: LlamaSpec): LlamaShape {
  const headDim = spec.headDim ?? spec.hiddenSize / spec.numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`llama spec: head_dim must be an even integer, got ${headDim}`);
  if (spec.numHeads % spec.numKvHeads !== 0) throw new Error('llama spec: num_attention_heads must be a multiple of num_key_value_heads');
  return {
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositions: 2048,
    bosTokenId: 1,
    eosTokenId: 2,
    seed: 1,
    ...spec,
    headDim,
  };
}

/** Hugging Face name prefix of a layer's weights. */
export const layerPrefix = (layer: number): string => `model.layers.${layer}`;

/**
 * Seeded random weights, scaled so that attention is neither uniform nor one-hot (query·key scores have a
 * standard deviation of about 1.5) and logits spread over a few units. MatMul weights are stored [in, out].
 */
export function llamaWeights(spec: LlamaSpec): WeightSet {
  const s = resolveLlamaSpec(spec);
  const weights: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  const add = (name: string, dims: number[], std: number, mean = 0) => {
    weights[name] = gaussian(s.seed, name, dims.reduce((a, b) => a * b, 1), std, mean);
    shapes[name] = dims;
  };
  const { hiddenSize: h, intermediateSize: m, numHeads, numKvHeads, headDim } = s;
  add('model.embed_tokens.weight', [s.vocabSize, h], 1);
  for (let layer = 0; layer < s.numLayers; layer++) {
    const p = layerPrefix(layer);
    add(`${p}.input_layernorm.weight`, [h], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [h, numHeads * headDim], 1.2 / Math.sqrt(h));
    add(`${p}.self_attn.k_proj.weight`, [h, numKvHeads * headDim], 1.2 / Math.sqrt(h));
    add(`${p}.self_attn.v_proj.weight`, [h, numKvHeads * headDim], 1 / Math.sqrt(h));
    add(`${p}.self_attn.o_proj.weight`, [numHeads * headDim, h], 1 / Math.sqrt(numHeads * headDim));
    add(`${p}.post_attention_layernorm.weight`, [h], 0.1, 1);
    add(`${p}.mlp.gate_proj.weight`, [h, m], 1 / Math.sqrt(h));
    add(`${p}.mlp.up_proj.weight`, [h, m], 1 / Math.sqrt(h));
    add(`${p}.mlp.down_proj.weight`, [m, h], 1 / Math.sqrt(m));
  }
  add('model.norm.weight', [h], 0.1, 1);
  add('lm_head.weight', [h, s.vocabSize], 2 / Math.sqrt(h));
  return { weights, shapes };
}

/** config.json for a llama-style model, with transformers' field names. */
export function llamaConfig(spec: LlamaSpec): Record<string, unknown> {
  const s = resolveLlamaSpec(spec);
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: s.vocabSize,
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKvHeads,
    head_dim: s.headDim,
    hidden_act: 'silu',
    max_position_embeddings: s.maxPositions,
    rms_norm_eps: s.rmsNormEps,
    rope_theta: s.ropeTheta,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    initializer_range: 0.02,
    pretraining_tp: 1,
    bos_token_id: s.bosTokenId,
    eos_token_id: s.eosTokenId,
    ...(s.padTokenId === undefined ? {} : { pad_token_id: s.padTokenId }),
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    transformers_version: '4.46.0',
  };
}

/** Rotary inverse frequencies 1/θ^(2i/d), i < d/2 (the non-scaled Hugging Face default). */
export function inverseFrequencies(headDim: number, theta: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
}

/** Adds the weights as initializers; returns initializer name by weight name. */
export function addWeights(g: GraphBuilder, set: WeightSet): Record<string, string> {
  const names: Record<string, string> = {};
  for (const [name, data] of Object.entries(set.weights)) names[name] = g.initializer(name, data, set.shapes[name]);
  return names;
}

/**
 * Builds the decomposed llama-style graph.
 * Example: `buildLlamaModel({ vocabSize: 32000, hiddenSize: 64, intermediateSize: 128, numLayers: 2,
 * numHeads: 4, numKvHeads: 2 })` → a model whose `logits` are [batch, seq, 32000].
 */
export function buildLlamaModel(spec: LlamaSpec, options: LlamaOptions = {}): BuiltModel {
  const s = resolveLlamaSpec(spec);
  const set = options.weights ?? llamaWeights(spec);
  const g = new GraphBuilder('main_graph');
  const io = declareDecoderInputs(g, { layers: s.numLayers, kvHeads: s.numKvHeads, headDim: s.headDim, positionIds: true });
  const w = addWeights(g, set);
  const model = new Scope(g, '/model');

  let hidden = model.child('embed_tokens').op('Gather', [w['model.embed_tokens.weight'], io.inputIds], { axis: 0 });
  const mask = causalMask(model, io.inputIds, io.attentionMask);
  const { cos, sin } = rotaryTables(model.child('rotary_emb'), io.positionIds!, s.headDim, s.ropeTheta);

  for (let layer = 0; layer < s.numLayers; layer++) {
    const scope = model.child(`layers.${layer}`);
    const p = layerPrefix(layer);
    const normed = rmsNorm(scope.child('input_layernorm'), hidden, w[`${p}.input_layernorm.weight`], s.rmsNormEps);
    const attention = scope.child('self_attn');
    const project = (which: string, x: string) => attention.child(which).op('MatMul', [x, w[`${p}.self_attn.${which}.weight`]]);
    const query = applyRotary(attention, splitHeads(attention, project('q_proj', normed), s.numHeads, s.headDim), cos, sin, s.headDim);
    const key = applyRotary(attention, splitHeads(attention, project('k_proj', normed), s.numKvHeads, s.headDim), cos, sin, s.headDim);
    const value = splitHeads(attention, project('v_proj', normed), s.numKvHeads, s.headDim);
    const context = cachedAttention(
      attention,
      layer,
      { query, key, value, pastKey: io.pastKeys[layer], pastValue: io.pastValues[layer], mask },
      { heads: s.numHeads, kvHeads: s.numKvHeads, headDim: s.headDim },
    );
    hidden = scope.op('Add', [hidden, project('o_proj', context)]);

    const normed2 = rmsNorm(scope.child('post_attention_layernorm'), hidden, w[`${p}.post_attention_layernorm.weight`], s.rmsNormEps);
    const mlp = scope.child('mlp');
    const gate = mlp.child('gate_proj').op('MatMul', [normed2, w[`${p}.mlp.gate_proj.weight`]]);
    const activation = mlp.child('act_fn');
    const silu = activation.op('Mul', [gate, activation.op('Sigmoid', [gate])]);
    const up = mlp.child('up_proj').op('MatMul', [normed2, w[`${p}.mlp.up_proj.weight`]]);
    const down = mlp.child('down_proj').op('MatMul', [mlp.op('Mul', [silu, up]), w[`${p}.mlp.down_proj.weight`]]);
    hidden = scope.op('Add', [hidden, down]);
  }

  const final = rmsNorm(model.child('norm'), hidden, w['model.norm.weight'], s.rmsNormEps);
  new Scope(g, '/lm_head').op('MatMul', [final, w['lm_head.weight']], {}, { outputNames: ['logits'] });
  declareDecoderOutputs(g, { layers: s.numLayers, kvHeads: s.numKvHeads, headDim: s.headDim, vocab: s.vocabSize });
  return { model: g.build({ '': 17 }), config: llamaConfig(spec), weights: set.weights, shapes: set.shapes };
}

/** cos and sin of position·inv_freq, halves concatenated, as [batch, 1, seq, head_dim]. */
function rotaryTables(scope: Scope, positionIds: string, headDim: number, theta: number): { cos: string; sin: string } {
  const g = scope.graph;
  const positions = scope.op('Unsqueeze', [scope.op('Cast', [positionIds], { to: DataType.FLOAT }), g.int64([2])]);
  const frequencies = scope.op('Mul', [positions, g.float(inverseFrequencies(headDim, theta))]);
  const angles = scope.op('Concat', [frequencies, frequencies], { axis: -1 });
  const heads = g.int64([1]);
  return {
    cos: scope.op('Unsqueeze', [scope.op('Cos', [angles]), heads]),
    sin: scope.op('Unsqueeze', [scope.op('Sin', [angles]), heads]),
  };
}

/** x·cos + rotate_half(x)·sin, rotate_half(x) = concat(−x₂, x₁) over the two halves of the last axis. */
function applyRotary(scope: Scope, x: string, cos: string, sin: string, headDim: number): string {
  const g = scope.graph;
  const half = headDim / 2;
  const axis = g.int64([3]);
  const first = scope.op('Slice', [x, g.int64([0]), g.int64([half]), axis]);
  const second = scope.op('Slice', [x, g.int64([half]), g.int64([headDim]), axis]);
  const rotated = scope.op('Concat', [scope.op('Neg', [second]), first], { axis: -1 });
  return scope.op('Add', [scope.op('Mul', [x, cos]), scope.op('Mul', [rotated, sin])]);
}
