// Naive reference forward passes (plain loops, float64) for the llama-style and GPT-2-style builders,
// written from the architectures' definitions, to check the ONNX graphs against an independent computation.
import type { LlamaShape } from '../../../main/engine/model-builder/llama';
import type { Gpt2Shape } from '../../../main/engine/model-builder/gpt2';

type W = Record<string, Float32Array>;

/** x [T, K] · w [K, N] (+ bias). */
function matmul(x: number[][], w: Float32Array, n: number, bias?: Float32Array): number[][] {
  return x.map((row) => {
    const out = Array.from({ length: n }, (_, j) => bias?.[j] ?? 0);
    row.forEach((value, k) => {
      for (let j = 0; j < n; j++) out[j] += value * w[k * n + j];
    });
    return out;
  });
}

const add = (a: number[][], b: number[][]) => a.map((row, i) => row.map((v, j) => v + b[i][j]));

function rmsNorm(x: number[][], weight: Float32Array, eps: number): number[][] {
  return x.map((row) => {
    const scale = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / row.length + eps);
    return row.map((v, j) => v * scale * weight[j]);
  });
}

function layerNorm(x: number[][], weight: Float32Array, bias: Float32Array, eps: number): number[][] {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * weight[j] + bias[j]);
  });
}

/** Causal softmax attention; q [T, H·D], k and v [T, KvH·D]; query head h reads KV head ⌊h / (H / KvH)⌋. */
function attention(q: number[][], k: number[][], v: number[][], heads: number, kvHeads: number, headDim: number): number[][] {
  const groups = heads / kvHeads;
  return q.map((_, t) => {
    const out: number[] = [];
    for (let h = 0; h < heads; h++) {
      const kv = Math.floor(h / groups);
      const scores = [];
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[t][h * headDim + d] * k[s][kv * headDim + d];
        scores.push(dot / Math.sqrt(headDim));
      }
      const max = Math.max(...scores);
      const exps = scores.map((x) => Math.exp(x - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      for (let d = 0; d < headDim; d++) out.push(exps.reduce((a, e, s) => a + (e / sum) * v[s][kv * headDim + d], 0));
    }
    return out;
  });
}

/** HF llama rotary: x·cos + rotate_half(x)·sin with angle position·θ^(−2i/D), halves concatenated. */
function rotary(x: number[][], heads: number, headDim: number, theta: number): number[][] {
  const half = headDim / 2;
  return x.map((row, position) =>
    row.map((value, index) => {
      const d = index % headDim;
      const base = index - d;
      const i = d % half;
      const angle = position / theta ** ((2 * i) / headDim);
      const rotated = d < half ? -row[base + d + half] : row[base + d - half];
      return value * Math.cos(angle) + rotated * Math.sin(angle);
    }),
  );
}

export function llamaReference(s: LlamaShape, w: W, ids: number[]): number[][] {
  const h = s.hiddenSize;
  let x = ids.map((id) => Array.from(w['model.embed_tokens.weight'].subarray(id * h, (id + 1) * h)));
  for (let layer = 0; layer < s.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const n1 = rmsNorm(x, w[`${p}.input_layernorm.weight`], s.rmsNormEps);
    const q = rotary(matmul(n1, w[`${p}.self_attn.q_proj.weight`], s.numHeads * s.headDim), s.numHeads, s.headDim, s.ropeTheta);
    const k = rotary(matmul(n1, w[`${p}.self_attn.k_proj.weight`], s.numKvHeads * s.headDim), s.numKvHeads, s.headDim, s.ropeTheta);
    const v = matmul(n1, w[`${p}.self_attn.v_proj.weight`], s.numKvHeads * s.headDim);
    x = add(x, matmul(attention(q, k, v, s.numHeads, s.numKvHeads, s.headDim), w[`${p}.self_attn.o_proj.weight`], h));
    const n2 = rmsNorm(x, w[`${p}.post_attention_layernorm.weight`], s.rmsNormEps);
    const gate = matmul(n2, w[`${p}.mlp.gate_proj.weight`], s.intermediateSize);
    const up = matmul(n2, w[`${p}.mlp.up_proj.weight`], s.intermediateSize);
    const inner = gate.map((row, t) => row.map((g, j) => (g / (1 + Math.exp(-g))) * up[t][j]));
    x = add(x, matmul(inner, w[`${p}.mlp.down_proj.weight`], h));
  }
  return matmul(rmsNorm(x, w['model.norm.weight'], s.rmsNormEps), w['lm_head.weight'], s.vocabSize);
}

export function gpt2Reference(s: Gpt2Shape, w: W, ids: number[]): number[][] {
  const h = s.hiddenSize;
  const headDim = h / s.numHeads;
  const row = (name: string, i: number) => Array.from(w[name].subarray(i * h, (i + 1) * h));
  let x = ids.map((id, position) => row('transformer.wte.weight', id).map((v, j) => v + row('transformer.wpe.weight', position)[j]));
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  for (let layer = 0; layer < s.numLayers; layer++) {
    const p = `transformer.h.${layer}`;
    const n1 = layerNorm(x, w[`${p}.ln_1.weight`], w[`${p}.ln_1.bias`], s.layerNormEps);
    const qkv = matmul(n1, w[`${p}.attn.c_attn.weight`], 3 * h, w[`${p}.attn.c_attn.bias`]);
    const part = (i: number) => qkv.map((r) => r.slice(i * h, (i + 1) * h));
    const context = attention(part(0), part(1), part(2), s.numHeads, s.numHeads, headDim);
    x = add(x, matmul(context, w[`${p}.attn.c_proj.weight`], h, w[`${p}.attn.c_proj.bias`]));
    const n2 = layerNorm(x, w[`${p}.ln_2.weight`], w[`${p}.ln_2.bias`], s.layerNormEps);
    const inner = matmul(n2, w[`${p}.mlp.c_fc.weight`], s.innerSize, w[`${p}.mlp.c_fc.bias`]).map((r) => r.map(gelu));
    x = add(x, matmul(inner, w[`${p}.mlp.c_proj.weight`], h, w[`${p}.mlp.c_proj.bias`]));
  }
  const final = layerNorm(x, w['transformer.ln_f.weight'], w['transformer.ln_f.bias'], s.layerNormEps);
  const wte = w['transformer.wte.weight'];
  return final.map((r) => Array.from({ length: s.vocabSize }, (_, v) => r.reduce((a, value, j) => a + value * wte[v * h + j], 0)));
}
