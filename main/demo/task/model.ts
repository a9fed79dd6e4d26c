// Architecture and initial weights of the trained demo model.
import { gaussian } from '../../engine/model-builder/random';
import { layerPrefix, resolveLlamaSpec, type LlamaSpec } from '../../engine/model-builder/llama';
import type { WeightSet } from '../../engine/model-builder/types';
import { demoVocabulary } from './tokenizer';

/** Seed of the committed demo model (task prompts, held-out pairs, initial weights). */
export const DEMO_SEED = 20261127;

/** The demo model: 3 layers, hidden 64, 4 heads of 16 (head_dim 16 also suits fused-operator kernels). */
export function demoSpec(seed: number, vocabSize = demoVocabulary().length): LlamaSpec {
  return {
    vocabSize,
    hiddenSize: 64,
    intermediateSize: 192,
    numLayers: 3,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 16,
    maxPositions: 512,
    bosTokenId: 1,
    eosTokenId: 2,
    padTokenId: 3,
    seed,
  };
}

/**
 * Initial weights for training (not llamaWeights' fixture scaling): projections ~ N(0, 1/fan_in), the
 * projections that write into the residual stream scaled down by √(2·layers) as GPT-2 does, norms at 1.
 * Every tensor draws from its own seeded stream.
 */
export function initialWeights(spec: LlamaSpec): WeightSet {
  const s = resolveLlamaSpec(spec);
  const weights: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  const add = (name: string, dims: number[], std: number, mean = 0) => {
    weights[name] = std === 0 ? new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(mean) : gaussian(s.seed, name, dims.reduce((a, b) => a * b, 1), std, mean);
    shapes[name] = dims;
  };
  const { hiddenSize: h, intermediateSize: m, numHeads, numKvHeads, headDim } = s;
  const residual = 1 / Math.sqrt(2 * s.numLayers);
  add('model.embed_tokens.weight', [s.vocabSize, h], 1);
  for (let layer = 0; layer < s.numLayers; layer++) {
    const p = layerPrefix(layer);
    add(`${p}.input_layernorm.weight`, [h], 0, 1);
    add(`${p}.self_attn.q_proj.weight`, [h, numHeads * headDim], 1 / Math.sqrt(h));
    add(`${p}.self_attn.k_proj.weight`, [h, numKvHeads * headDim], 1 / Math.sqrt(h));
    add(`${p}.self_attn.v_proj.weight`, [h, numKvHeads * headDim], 1 / Math.sqrt(h));
    add(`${p}.self_attn.o_proj.weight`, [numHeads * headDim, h], residual / Math.sqrt(numHeads * headDim));
    add(`${p}.post_attention_layernorm.weight`, [h], 0, 1);
    add(`${p}.mlp.gate_proj.weight`, [h, m], 1 / Math.sqrt(h));
    add(`${p}.mlp.up_proj.weight`, [h, m], 1 / Math.sqrt(h));
    add(`${p}.mlp.down_proj.weight`, [m, h], residual / Math.sqrt(m));
  }
  add('model.norm.weight', [h], 0, 1);
  add('lm_head.weight', [h, s.vocabSize], 1 / Math.sqrt(h));
  return { weights, shapes };
}
