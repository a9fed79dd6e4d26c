// The fused-operator fixtures are the 'llama' fixture's twins: same weights, onnxruntime-genai-style
// operators. Their logits must match the decomposed graph (MatMulNBits: match a decomposed graph holding the
// dequantized weights, and stay close to the float one).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { LLAMA_FIXTURE_SPEC } from '../../fixtures/recipes';
import { decoderFeeds, maxAbsDiff } from '../../fixtures/decoder-run';
import { buildLlamaModel } from '../../../main/engine/model-builder/llama';
import { buildFusedLlamaModel } from '../../../main/engine/model-builder/fused-llama';
import { decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { readFile } from 'node:fs/promises';

const shape = { layers: 2, kvHeads: 2, headDim: 16 };
const ids = [1, 450, 4996, 17354, 1701, 432, 29889, 3869, 263];

async function logitsOf(session: ort.InferenceSession): Promise<{ full: Float32Array; step: Float32Array }> {
  const full = await session.run(decoderFeeds(session, shape, [ids]));
  const first = await session.run(decoderFeeds(session, shape, [ids.slice(0, 7)]));
  const step = await session.run(decoderFeeds(session, shape, [ids.slice(7)], { past: first, pastLength: 7 }));
  return { full: full.logits.data as Float32Array, step: step.logits.data as Float32Array };
}

async function fixtureSession(name: FixtureName): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(join(await fixtureFolder(name), 'onnx', 'model.onnx'));
}

describe('fused-operator twins of the llama fixture', () => {
  it.each([
    ['llama-fused-gqa', ['GroupQueryAttention', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization']],
    ['llama-fused-mha', ['MultiHeadAttention', 'RotaryEmbedding', 'SkipSimplifiedLayerNormalization']],
  ] as const)('%s gives the decomposed logits (max abs diff ≤ 1e-4), full and KV-cached', async (name, expectedOps) => {
    const reference = await logitsOf(await fixtureSession('llama'));
    const fused = await logitsOf(await fixtureSession(name));
    expect(maxAbsDiff(fused.full, reference.full)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(fused.step, reference.step)).toBeLessThanOrEqual(1e-4);

    const model = decodeModel(await readFile(join(await fixtureFolder(name), 'onnx', 'model.onnx')));
    const opTypes = new Set(model.graph!.node.map((n) => n.opType));
    for (const op of expectedOps) expect(opTypes).toContain(op);
    expect(opTypes).not.toContain('Softmax');
    const inputs = model.graph!.input.map((i) => i.name);
    expect(inputs.includes('position_ids')).toBe(name === 'llama-fused-mha');
  });

  it('llama-fused-q4 equals a decomposed graph with the dequantized weights and stays near the float model', async () => {
    const quantized = buildFusedLlamaModel(LLAMA_FIXTURE_SPEC, { attention: 'gqa', quantize: true });
    const twin = buildLlamaModel(LLAMA_FIXTURE_SPEC, { weights: { weights: quantized.weights, shapes: quantized.shapes } });
    const dequantized = await logitsOf(await ort.InferenceSession.create(encodeModel(twin.model)));
    const fused = await logitsOf(await fixtureSession('llama-fused-q4'));
    expect(maxAbsDiff(fused.full, dequantized.full)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(fused.step, dequantized.step)).toBeLessThanOrEqual(1e-4);

    const float = await logitsOf(await fixtureSession('llama'));
    expect(correlation(fused.full, float.full)).toBeGreaterThan(0.8);
    const model = decodeModel(await readFile(join(await fixtureFolder('llama-fused-q4'), 'onnx', 'model.onnx')));
    expect(model.graph!.node.filter((n) => n.opType === 'MatMulNBits')).toHaveLength(2 * 7);
  });
});

function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) (ma += a[i]), (mb += b[i]);
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}
