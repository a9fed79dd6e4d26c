// GPT-2-style decoder written the way optimum exports it: token and learned position embeddings,
// LayerNormalization (opset 17), fused qkv projection (c_attn) split into heads, decomposed causal attention,
// gelu_new (tanh approximation) and an lm_head tied to the token embedding.
import { GraphBuilder } from '../onnx/graph-builder';
import { gaussian } from './random';
import { Scope } from './scope';
import { addWeights } from './llama';
import { cachedAttention, causalMask, declareDecoderInputs, declareDecoderOutputs, splitHeads } from './decoder-graph';
import type { BuiltModel, WeightSet } from './types';

/** Architecture of a GPT-2-style model. */
export interface Gpt2Spec {
  /** Default 50257 (GPT-2's vocabulary). */
  vocabSize?: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP width; default 4 · hiddenSize. */
  innerSize?: number;
  /** Learned positions (n_positions); default 1024. */
  maxPositions?: number;
  layerNormEps?: number;
  bosTokenId?: number;
  eosTokenId?: number;
  seed?: number;
}

export interface Gpt2Options {
  weights?: WeightSet;
}

export type Gpt2Shape = Required<Gpt2Spec>;

export function resolveGpt2Spec(spec: Gpt2Spec): Gpt2Shape {
  if (spec.hiddenSize % spec.numHeads !== 0) throw new Error('gpt2 spec: n_embd must be a multiple of n_head');
  return {
    vocabSize: 50257,
    innerSize: 4 * spec.hiddenSize,
    maxPositions: 1024,
    layerNormEps: 1e-5,
    bosTokenId: 50256,
    eosTokenId: 50256,
    seed: 1,
    ...spec,
  };
}

/**
 * Seeded random weights with GPT-2's names. Conv1D weights are already [in, out], as in the checkpoints.
 * The final LayerNorm gain is small because the lm_head reuses the unit-scale token embedding.
 */
export function gpt2Weights(spec: Gpt2Spec): WeightSet {
  const s = resolveGpt2Spec(spec);
  const weights: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  const add = (name: string, dims: number[], data: Float32Array) => {
    weights[name] = data;
    shapes[name] = dims;
  };
  const normal = (name: string, dims: number[], std: number, mean = 0) =>
    add(name, dims, gaussian(s.seed, name, dims.reduce((a, b) => a * b, 1), std, mean));
  const h = s.hiddenSize;
  normal('transformer.wte.weight', [s.vocabSize, h], 1);
  normal('transformer.wpe.weight', [s.maxPositions, h], 0.3);
  for (let layer = 0; layer < s.numLayers; layer++) {
    const p = `transformer.h.${layer}`;
    normal(`${p}.ln_1.weight`, [h], 0.1, 1);
    normal(`${p}.ln_1.bias`, [h], 0.05);
    // q and k columns get a larger scale than v so that attention is neither uniform nor one-hot.
    const qk = gaussian(s.seed, `${p}.attn.c_attn.weight`, h * 3 * h, 1);
    for (let row = 0; row < h; row++)
      for (let col = 0; col < 3 * h; col++) qk[row * 3 * h + col] *= (col < 2 * h ? 1.2 : 1) / Math.sqrt(h);
    add(`${p}.attn.c_attn.weight`, [h, 3 * h], qk);
    normal(`${p}.attn.c_attn.bias`, [3 * h], 0.1);
    normal(`${p}.attn.c_proj.weight`, [h, h], 5 / Math.sqrt(h));
    normal(`${p}.attn.c_proj.bias`, [h], 0.05);
    normal(`${p}.ln_2.weight`, [h], 0.1, 1);
    normal(`${p}.ln_2.bias`, [h], 0.05);
    normal(`${p}.mlp.c_fc.weight`, [h, s.innerSize], 1 / Math.sqrt(h));
    normal(`${p}.mlp.c_fc.bias`, [s.innerSize], 0.05);
    normal(`${p}.mlp.c_proj.weight`, [s.innerSize, h], 5 / Math.sqrt(s.innerSize));
    normal(`${p}.mlp.c_proj.bias`, [h], 0.05);
  }
  normal('transformer.ln_f.weight', [h], 0.05, 0.3);
  normal('transformer.ln_f.bias', [h], 0.02);
  return { weights, shapes };
}

/** config.json for a GPT-2-style model, with GPT-2's own field names (n_layer, n_head, n_embd, …). */
export function gpt2Config(spec: Gpt2Spec): Record<string, unknown> {
  const s = resolveGpt2Spec(spec);
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    vocab_size: s.vocabSize,
    n_embd: s.hiddenSize,
    n_head: s.numHeads,
    n_layer: s.numLayers,
    n_inner: s.innerSize === 4 * s.hiddenSize ? null : s.innerSize,
    n_positions: s.maxPositions,
    n_ctx: s.maxPositions,
    layer_norm_epsilon: s.layerNormEps,
    attn_pdrop: 0.1,
    embd_pdrop: 0.1,
    resid_pdrop: 0.1,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    bos_token_id: s.bosTokenId,
    eos_token_id: s.eosTokenId,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    transformers_version: '4.46.0',
  };
}

/**
 * Builds the GPT-2-style graph.
 * Example: `buildGpt2Model({ hiddenSize: 64, numLayers: 2, numHeads: 4 })` → `logits` [batch, seq, 50257].
 */
export function buildGpt2Model(spec: Gpt2Spec, options: Gpt2Options = {}): BuiltModel {
  const s = resolveGpt2Spec(spec);
  const set = options.weights ?? gpt2Weights(spec);
  const headDim = s.hiddenSize / s.numHeads;
  const g = new GraphBuilder('main_graph');
  const io = declareDecoderInputs(g, { layers: s.numLayers, kvHeads: s.numHeads, headDim, positionIds: true });
  const w = addWeights(g, set);
  const transformer = new Scope(g, '/transformer');

  const tokens = transformer.child('wte').op('Gather', [w['transformer.wte.weight'], io.inputIds], { axis: 0 });
  const positions = transformer.child('wpe').op('Gather', [w['transformer.wpe.weight'], io.positionIds!], { axis: 0 });
  let hidden = transformer.op('Add', [tokens, positions]);
  const mask = causalMask(transformer, io.inputIds, io.attentionMask);
  const layerNorm = (scope: Scope, x: string, prefix: string) =>
    scope.op('LayerNormalization', [x, w[`${prefix}.weight`], w[`${prefix}.bias`]], { axis: -1, epsilon: { float: s.layerNormEps } });
  const linear = (scope: Scope, x: string, prefix: string) =>
    scope.op('Add', [scope.op('MatMul', [x, w[`${prefix}.weight`]]), w[`${prefix}.bias`]]);

  for (let layer = 0; layer < s.numLayers; layer++) {
    const scope = transformer.child(`h.${layer}`);
    const p = `transformer.h.${layer}`;
    const attention = scope.child('attn');
    const qkv = linear(attention.child('c_attn'), layerNorm(scope.child('ln_1'), hidden, `${p}.ln_1`), `${p}.attn.c_attn`);
    const h = s.hiddenSize;
    const [q, k, v] = attention.ops('Split', [qkv, g.int64([h, h, h])], { axis: 2 }, { outputs: 3 });
    const context = cachedAttention(
      attention,
      layer,
      {
        query: splitHeads(attention, q, s.numHeads, headDim),
        key: splitHeads(attention, k, s.numHeads, headDim),
        value: splitHeads(attention, v, s.numHeads, headDim),
        pastKey: io.pastKeys[layer],
        pastValue: io.pastValues[layer],
        mask,
      },
      { heads: s.numHeads, kvHeads: s.numHeads, headDim },
    );
    hidden = scope.op('Add', [hidden, linear(attention.child('c_proj'), context, `${p}.attn.c_proj`)]);
    const mlp = scope.child('mlp');
    const inner = linear(mlp.child('c_fc'), layerNorm(scope.child('ln_2'), hidden, `${p}.ln_2`), `${p}.mlp.c_fc`);
    hidden = scope.op('Add', [hidden, linear(mlp.child('c_proj'), geluNew(mlp.child('act'), inner), `${p}.mlp.c_proj`)]);
  }

  const final = layerNorm(transformer.child('ln_f'), hidden, 'transformer.ln_f');
  const head = new Scope(g, '/lm_head');
  const tied = head.op('Transpose', [w['transformer.wte.weight']], { perm: [1, 0] });
  head.op('MatMul', [final, tied], {}, { outputNames: ['logits'] });
  declareDecoderOutputs(g, { layers: s.numLayers, kvHeads: s.numHeads, headDim, vocab: s.vocabSize });
  return { model: g.build({ '': 17 }), config: gpt2Config(spec), weights: set.weights, shapes: set.shapes };
}

/** gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), decomposed. */
function geluNew(scope: Scope, x: string): string {
  const g = scope.graph;
  const cube = scope.op('Mul', [scope.op('Pow', [x, g.float(3, [])]), g.float(0.044715, [])]);
  const inner = scope.op('Mul', [scope.op('Add', [x, cube]), g.float(Math.sqrt(2 / Math.PI), [])]);
  const gate = scope.op('Add', [scope.op('Tanh', [inner]), g.float(1, [])]);
  return scope.op('Mul', [scope.op('Mul', [x, g.float(0.5, [])]), gate]);
}
