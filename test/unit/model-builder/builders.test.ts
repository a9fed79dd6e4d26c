// The builders' graphs compute what the architectures define (checked against naive float64 references),
// are deterministic, and the folder writer's variants are well formed.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildLlamaModel, resolveLlamaSpec, type LlamaSpec } from '../../../main/engine/model-builder/llama';
import { buildGpt2Model, resolveGpt2Spec, type Gpt2Spec } from '../../../main/engine/model-builder/gpt2';
import { buildFusedLlamaModel } from '../../../main/engine/model-builder/fused-llama';
import { externalizeWeights, writeModelFolder } from '../../../main/engine/model-builder/folder';
import { gaussian } from '../../../main/engine/model-builder/random';
import { quantize4Bit } from '../../../main/engine/model-builder/quantize';
import { decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { decoderFeeds, maxAbsDiff } from '../../fixtures/decoder-run';
import { gpt2Reference, llamaReference } from './reference';

const tinyLlama: LlamaSpec = { vocabSize: 40, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, seed: 5 };
const tinyGpt2: Gpt2Spec = { vocabSize: 40, hiddenSize: 32, numLayers: 2, numHeads: 4, maxPositions: 16, seed: 6 };
const ids = [3, 17, 0, 39, 8, 8, 21];

async function logits(model: Uint8Array, shape: { layers: number; kvHeads: number; headDim: number }): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  const out = await session.run(decoderFeeds(session, shape, [ids]));
  await session.release();
  return out.logits.data as Float32Array;
}

describe('model builders', () => {
  it('llama graph equals a naive reference (rotary, GQA, SwiGLU, RMSNorm) within 1e-4', async () => {
    const built = buildLlamaModel(tinyLlama);
    const ours = await logits(encodeModel(built.model), { layers: 2, kvHeads: 2, headDim: 8 });
    const reference = llamaReference(resolveLlamaSpec(tinyLlama), built.weights, ids).flat();
    expect(maxAbsDiff(ours, reference)).toBeLessThanOrEqual(1e-4);
    expect(Math.max(...reference) - Math.min(...reference)).toBeGreaterThan(1); // not a constant function
  });

  it('gpt2 graph equals a naive reference (LayerNorm, learned positions, gelu_new, tied head) within 1e-4', async () => {
    const built = buildGpt2Model(tinyGpt2);
    const ours = await logits(encodeModel(built.model), { layers: 2, kvHeads: 4, headDim: 8 });
    const reference = gpt2Reference(resolveGpt2Spec(tinyGpt2), built.weights, ids).flat();
    expect(maxAbsDiff(ours, reference)).toBeLessThanOrEqual(1e-4);
  });

  it('builds identical bytes twice, and different bytes for another seed', () => {
    for (const build of [
      (seed: number) => buildLlamaModel({ ...tinyLlama, seed }),
      (seed: number) => buildGpt2Model({ ...tinyGpt2, seed }),
      (seed: number) => buildFusedLlamaModel({ ...tinyLlama, headDim: 16, numHeads: 2, numKvHeads: 1, seed }, { quantize: true }),
    ]) {
      const first = encodeModel(build(1).model);
      expect(Buffer.from(encodeModel(build(1).model)).equals(Buffer.from(first))).toBe(true);
      expect(Buffer.from(encodeModel(build(2).model)).equals(Buffer.from(first))).toBe(false);
    }
  });

  it('names nodes and initializers the way optimum exports do', () => {
    const graph = buildLlamaModel(tinyLlama).model.graph!;
    const names = new Set(graph.node.map((n) => n.name));
    for (const name of ['/model/embed_tokens/Gather', '/model/layers.0/self_attn/q_proj/MatMul', '/model/layers.0/self_attn/k_proj/MatMul', '/model/layers.1/self_attn/Softmax', '/model/layers.0/input_layernorm/ReduceMean', '/model/norm/Sqrt', '/lm_head/MatMul']) {
      expect(names, name).toContain(name);
    }
    const initializers = new Map(graph.initializer.map((t) => [t.name, t.dims.map(Number)]));
    expect(initializers.get('model.embed_tokens.weight')).toEqual([40, 32]);
    expect(initializers.get('lm_head.weight')).toEqual([32, 40]);
    expect(graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(graph.output.map((o) => o.name)).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    const gpt2 = new Set(buildGpt2Model(tinyGpt2).model.graph!.node.map((n) => `${n.name}:${n.opType}`));
    for (const entry of ['/transformer/wte/Gather:Gather', '/transformer/wpe/Gather:Gather', '/transformer/h.0/ln_1/LayerNormalization:LayerNormalization', '/transformer/h.0/attn/Split:Split', '/transformer/h.1/attn/Softmax:Softmax', '/transformer/h.0/mlp/act/Tanh:Tanh']) {
      expect(gpt2).toContain(entry);
    }
  });

  it('draws seeded normal weights with the requested spread', () => {
    const sample = gaussian(7, 'x', 20000, 2, 1);
    expect(Array.from(gaussian(7, 'x', 8, 2, 1))).toEqual(Array.from(sample.subarray(0, 8)));
    const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
    const std = Math.sqrt(sample.reduce((a, b) => a + (b - mean) ** 2, 0) / sample.length);
    expect(Math.abs(mean - 1)).toBeLessThan(0.05);
    expect(Math.abs(std - 2)).toBeLessThan(0.05);
    expect(gaussian(7, 'y', 1, 1)[0]).not.toBe(gaussian(7, 'x', 1, 1)[0]);
  });

  it('quantizes to 4 bits with at most half a step of error per weight', () => {
    const weight = gaussian(1, 'w', 40 * 6, 1);
    const q = quantize4Bit(weight, 40, 6, 16);
    expect(q.blocks).toBe(3);
    expect(q.packed.length).toBe(6 * 3 * 8);
    for (let row = 0; row < 40; row++) {
      for (let column = 0; column < 6; column++) {
        const scale = q.scales[column * 3 + Math.floor(row / 16)];
        expect(Math.abs(q.dequantized[row * 6 + column] - weight[row * 6 + column])).toBeLessThanOrEqual(scale / 2 + 1e-6);
      }
    }
  });

  it('writes external data with relative locations and aligned offsets that onnxruntime loads from a path', async () => {
    const built = buildLlamaModel(tinyLlama);
    const { model, data } = externalizeWeights(built.model, 'model.onnx_data', 256, 64);
    const external = model.graph!.initializer.filter((t) => t.externalData.length > 0);
    expect(external.length).toBeGreaterThan(5);
    let end = 0;
    for (const tensor of external) {
      const entry = Object.fromEntries(tensor.externalData.map((e) => [e.key, e.value]));
      expect(entry.location).toBe('model.onnx_data');
      expect(Number(entry.offset) % 64).toBe(0);
      expect(Number(entry.offset)).toBeGreaterThanOrEqual(end);
      end = Number(entry.offset) + Number(entry.length);
    }
    expect(data.length).toBe(end);

    const dir = await mkdtemp(join(tmpdir(), 'model-builder-'));
    try {
      await writeModelFolder(dir, built, { tokenizer: '{}', tokenizerConfig: {} }, { externalData: true, fp16: true });
      const shape = { layers: 2, kvHeads: 2, headDim: 8 };
      const session = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
      const fromPath = (await session.run(decoderFeeds(session, shape, [ids]))).logits.data as Float32Array;
      const embedded = await logits(encodeModel(built.model), shape);
      expect(maxAbsDiff(fromPath, embedded)).toBe(0);
      const half = decodeModel(await readFile(join(dir, 'onnx', 'model_fp16.onnx')));
      expect(half.graph!.initializer.find((t) => t.name === 'lm_head.weight')!.dataType).toBe(10); // FLOAT16
      const fp16 = await logits(await readFile(join(dir, 'onnx', 'model_fp16.onnx')), shape);
      expect(maxAbsDiff(fp16, embedded)).toBeLessThan(0.05);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
