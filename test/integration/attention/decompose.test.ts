// Each decomposition against onnxruntime's own fused kernel on the same inputs (fp32, max abs diff ≤ 1e-5;
// MatMulNBits dequantization exact).
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, type AttributeValue, type ModelProto } from '../../../main/engine/onnx/proto';
import { decomposeModel, operatorKey } from '../../../main/engine/onnx/decompose';
import { dequantizeNBits } from '../../../main/engine/onnx/decompose/matmul-nbits';
import type { Tensor } from '../../../main/engine/runtime';
import { floatTensor, int32Tensor, int64Tensor, maxAbsDiff, random, randomFloats, rotaryCache, runModel } from './helpers';

const MS = 'com.microsoft';

interface Case {
  model: ModelProto;
  feeds: Record<string, Tensor>;
  outputs: string[];
}

/** Runs fused and decomposed models; returns the largest difference per output. */
async function compare({ model, feeds, outputs }: Case): Promise<Record<string, number>> {
  const { model: decomposed, replaced } = decomposeModel(model);
  expect(replaced.length).toBeGreaterThan(0);
  const fusedKeys = new Set(replaced.map((r) => r.operator));
  expect(decomposed.graph!.node.some((n) => fusedKeys.has(operatorKey(n)))).toBe(false);
  const expected = await runModel(model, feeds, outputs);
  const actual = await runModel(decomposed, feeds, outputs);
  const diffs: Record<string, number> = {};
  for (const name of outputs) {
    expect(actual[name].dims).toEqual(expected[name].dims);
    diffs[name] = maxAbsDiff(actual[name].data, expected[name].data);
  }
  return diffs;
}

function gqaCase(options: {
  packed?: boolean;
  interleaved?: boolean;
  softcap?: number;
  localWindow?: number;
  rotaryWidth?: number;
  past?: number;
  /** attention_bias [1, H, S, P + S]. */
  bias?: boolean;
  headSink?: boolean;
  smooth?: boolean;
}): Case {
  const H = 4;
  const KH = 2;
  const D = 16;
  const S = 7;
  const P = options.past ?? 0;
  const g = new GraphBuilder();
  const width = options.rotaryWidth ?? D / 2;
  const { cos, sin } = rotaryCache(64, width);
  const cosName = g.initializer('cos_cache', cos, [64, width]);
  const sinName = g.initializer('sin_cache', sin, [64, width]);
  const feeds: Record<string, Tensor> = {};
  let inputs: string[];
  if (options.packed) {
    g.input('qkv', DataType.FLOAT, [1, S, (H + 2 * KH) * D]);
    feeds.qkv = floatTensor(randomFloats(S * (H + 2 * KH) * D, 1), [1, S, (H + 2 * KH) * D]);
    inputs = ['qkv', '', ''];
  } else {
    g.input('q', DataType.FLOAT, [1, S, H * D]);
    g.input('k', DataType.FLOAT, [1, S, KH * D]);
    g.input('v', DataType.FLOAT, [1, S, KH * D]);
    feeds.q = floatTensor(randomFloats(S * H * D, 2), [1, S, H * D]);
    feeds.k = floatTensor(randomFloats(S * KH * D, 3), [1, S, KH * D]);
    feeds.v = floatTensor(randomFloats(S * KH * D, 4), [1, S, KH * D]);
    inputs = ['q', 'k', 'v'];
  }
  g.input('past_key', DataType.FLOAT, [1, KH, 'past', D]);
  g.input('past_value', DataType.FLOAT, [1, KH, 'past', D]);
  g.input('seqlens_k', DataType.INT32, [1]);
  g.input('total_sequence_length', DataType.INT32, []);
  feeds.past_key = floatTensor(randomFloats(KH * P * D, 5), [1, KH, P, D]);
  feeds.past_value = floatTensor(randomFloats(KH * P * D, 6), [1, KH, P, D]);
  feeds.seqlens_k = int32Tensor([P + S - 1], [1]);
  feeds.total_sequence_length = int32Tensor([P + S], []);
  const extra: string[] = [];
  if (options.bias || options.headSink) {
    extra.push('', options.bias ? g.initializer('attention_bias', randomFloats(H * S * (P + S), 7, 2), [1, H, S, P + S]) : '');
    if (options.headSink) extra.push(g.initializer('head_sink', randomFloats(H, 8, 3), [H]));
  }
  const attributes: Record<string, AttributeValue | undefined> = {
    smooth_softmax: options.smooth ? 1 : undefined,
    num_heads: H,
    kv_num_heads: KH,
    do_rotary: 1,
    rotary_interleaved: options.interleaved ? 1 : 0,
    qk_output: 2,
    softcap: options.softcap !== undefined ? { float: options.softcap } : undefined,
    local_window_size: options.localWindow,
  };
  g.ops(
    'GroupQueryAttention',
    [...inputs, 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length', cosName, sinName, ...extra],
    attributes,
    { domain: MS, outputNames: ['output', 'present_key', 'present_value', 'probabilities'] },
  );
  for (const name of ['output', 'present_key', 'present_value', 'probabilities']) g.output(name, DataType.FLOAT);
  return { model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['output', 'present_key', 'present_value', 'probabilities'] };
}

describe('fused-operator decompositions match onnxruntime kernels', () => {
  it('GroupQueryAttention: rotary (halves), GQA heads, qk_output = 2', async () => {
    const diffs = await compare(gqaCase({}));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: packed QKV, interleaved rotary', async () => {
    const diffs = await compare(gqaCase({ packed: true, interleaved: true }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: softcap and local window', async () => {
    const diffs = await compare(gqaCase({ softcap: 2.5, localWindow: 3 }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: with a past (positions and causal mask offset)', async () => {
    const diffs = await compare(gqaCase({ past: 5 }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: attention_bias (with softcap and a past)', async () => {
    const diffs = await compare(gqaCase({ bias: true, softcap: 2.5, past: 3 }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: head_sink with attention_bias', async () => {
    const diffs = await compare(gqaCase({ headSink: true, bias: true }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention: smooth_softmax', async () => {
    const diffs = await compare(gqaCase({ smooth: true, past: 2 }));
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('MultiHeadAttention: bias, causal, qk output', async () => {
    const H = 2;
    const D = 8;
    const S = 6;
    const g = new GraphBuilder();
    for (const name of ['q', 'k', 'v']) g.input(name, DataType.FLOAT, [1, S, H * D]);
    const bias = g.initializer('bias', randomFloats(3 * H * D, 9, 0.5), [3 * H * D]);
    g.ops('MultiHeadAttention', ['q', 'k', 'v', bias], { num_heads: H, unidirectional: 1 }, { domain: MS, outputNames: ['output', '', '', 'qk'] });
    g.output('output', DataType.FLOAT);
    g.output('qk', DataType.FLOAT);
    const feeds = Object.fromEntries(['q', 'k', 'v'].map((name, i) => [name, floatTensor(randomFloats(S * H * D, 10 + i), [1, S, H * D])]));
    const diffs = await compare({ model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['output'] });
    expect(diffs.output).toBeLessThanOrEqual(1e-5);
  });

  it('com.microsoft Attention: packed weights, bias, raw mask, causal', async () => {
    const H = 2;
    const hidden = 16;
    const S = 5;
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, S, hidden]);
    g.input('mask', DataType.INT32, [1, S]);
    const weights = g.initializer('w', randomFloats(hidden * 3 * hidden, 20, 0.3), [hidden, 3 * hidden]);
    const bias = g.initializer('b', randomFloats(3 * hidden, 21, 0.3), [3 * hidden]);
    g.ops('Attention', ['x', weights, bias, 'mask'], { num_heads: H, unidirectional: 1 }, { domain: MS, outputNames: ['output'] });
    g.output('output', DataType.FLOAT);
    const feeds = { x: floatTensor(randomFloats(S * hidden, 22), [1, S, hidden]), mask: int32Tensor([1, 1, 1, 1, 1], [1, S]) };
    const diffs = await compare({ model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['output'] });
    expect(diffs.output).toBeLessThanOrEqual(1e-5);
  });

  it('ONNX Attention (opset 23): 3-D GQA inputs, causal, probabilities output', async () => {
    const H = 4;
    const KH = 2;
    const D = 8;
    const S = 6;
    const g = new GraphBuilder();
    g.input('q', DataType.FLOAT, [1, S, H * D]);
    g.input('k', DataType.FLOAT, [1, S, KH * D]);
    g.input('v', DataType.FLOAT, [1, S, KH * D]);
    g.ops('Attention', ['q', 'k', 'v'], { q_num_heads: H, kv_num_heads: KH, is_causal: 1, qk_matmul_output_mode: 3 }, { outputNames: ['output', '', '', 'probabilities'] });
    g.output('output', DataType.FLOAT);
    g.output('probabilities', DataType.FLOAT);
    const feeds = {
      q: floatTensor(randomFloats(S * H * D, 30), [1, S, H * D]),
      k: floatTensor(randomFloats(S * KH * D, 31), [1, S, KH * D]),
      v: floatTensor(randomFloats(S * KH * D, 32), [1, S, KH * D]),
    };
    const diffs = await compare({ model: g.build({ '': 23 }), feeds, outputs: ['output', 'probabilities'] });
    expect(diffs.output).toBeLessThanOrEqual(1e-5);
    expect(diffs.probabilities).toBeLessThanOrEqual(1e-5);
  });

  for (const variant of [
    { interleaved: 0, rotaryDim: 0, label: 'halves' },
    { interleaved: 1, rotaryDim: 0, label: 'interleaved' },
    { interleaved: 0, rotaryDim: 8, label: 'partial (8 of 16)' },
  ]) {
    it(`com.microsoft RotaryEmbedding: 3-D input, ${variant.label}`, async () => {
      const H = 2;
      const D = 16;
      const S = 6;
      const width = (variant.rotaryDim || D) / 2;
      const g = new GraphBuilder();
      g.input('x', DataType.FLOAT, [1, S, H * D]);
      g.input('position_ids', DataType.INT64, [1, S]);
      const { cos, sin } = rotaryCache(32, width);
      const cosName = g.initializer('cos', cos, [32, width]);
      const sinName = g.initializer('sin', sin, [32, width]);
      g.ops(
        'RotaryEmbedding',
        ['x', 'position_ids', cosName, sinName],
        { interleaved: variant.interleaved, num_heads: H, rotary_embedding_dim: variant.rotaryDim || undefined },
        { domain: MS, outputNames: ['y'] },
      );
      g.output('y', DataType.FLOAT);
      const feeds = { x: floatTensor(randomFloats(S * H * D, 40), [1, S, H * D]), position_ids: int64Tensor([3, 4, 5, 6, 7, 8], [1, S]) };
      const diffs = await compare({ model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['y'] });
      expect(diffs.y).toBeLessThanOrEqual(1e-5);
    });
  }

  it('com.microsoft RotaryEmbedding: 1-D position offset computed in the graph (rank not declared)', async () => {
    const H = 2;
    const D = 16;
    const S = 5;
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, S, H * D]);
    g.input('attention_mask', DataType.INT64, [1, 'total']);
    const { cos, sin } = rotaryCache(32, D / 2);
    const cosName = g.initializer('cos', cos, [32, D / 2]);
    const sinName = g.initializer('sin', sin, [32, D / 2]);
    // offset = total − S, shape [1], as exports without a position_ids input compute it from attention_mask.
    const total = g.op('Gather', [g.op('Shape', ['attention_mask']), g.int64([1])], { axis: 0 });
    const sequence = g.op('Gather', [g.op('Shape', ['x']), g.int64([1])], { axis: 0 });
    const offset = g.op('Sub', [total, sequence]);
    g.ops('RotaryEmbedding', ['x', offset, cosName, sinName], { interleaved: 0, num_heads: H }, { domain: MS, outputNames: ['y'] });
    g.output('y', DataType.FLOAT);
    const feeds = { x: floatTensor(randomFloats(S * H * D, 41), [1, S, H * D]), attention_mask: int64Tensor([1, 1, 1, 1, 1, 1, 1, 1], [1, 8]) };
    const diffs = await compare({ model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['y'] });
    expect(diffs.y).toBeLessThanOrEqual(1e-5);
  });

  it('GroupQueryAttention q_norm_weight/k_norm_weight: decomposition equals the kernels on the unfused form', async () => {
    // onnxruntime's CPU kernel refuses these inputs, so the reference is what CPU exports write instead:
    // Reshape → SimplifiedLayerNormalization per head → Reshape before a GroupQueryAttention without them.
    const H = 4;
    const KH = 2;
    const D = 16;
    const S = 6;
    const eps = 1e-5;
    const build = (fusedNorm: boolean) => {
      const g = new GraphBuilder();
      g.input('q', DataType.FLOAT, [1, S, H * D]);
      g.input('k', DataType.FLOAT, [1, S, KH * D]);
      g.input('v', DataType.FLOAT, [1, S, KH * D]);
      g.input('seqlens_k', DataType.INT32, [1]);
      g.input('total_sequence_length', DataType.INT32, []);
      const { cos, sin } = rotaryCache(32, D / 2);
      const cosName = g.initializer('cos_cache', cos, [32, D / 2]);
      const sinName = g.initializer('sin_cache', sin, [32, D / 2]);
      const qn = g.initializer('q_norm', randomFloats(D, 70, 2), [D]);
      const kn = g.initializer('k_norm', randomFloats(D, 71, 2), [D]);
      const norm = (x: string, weight: string, heads: number) =>
        g.op('Reshape', [g.op('SimplifiedLayerNormalization', [g.op('Reshape', [x, g.int64([0, 0, heads, D])]), weight], { axis: -1, epsilon: { float: eps } }), g.int64([0, 0, heads * D])]);
      const [q, k] = fusedNorm ? ['q', 'k'] : [norm('q', qn, H), norm('k', kn, KH)];
      const inputs = [q, k, 'v', '', '', 'seqlens_k', 'total_sequence_length', cosName, sinName];
      if (fusedNorm) inputs.push('', '', '', '', '', qn, kn);
      g.ops('GroupQueryAttention', inputs, { num_heads: H, kv_num_heads: KH, do_rotary: 1, qk_output: 2, qk_norm_epsilon: fusedNorm ? { float: eps } : undefined }, { domain: MS, outputNames: ['output', 'present_key', 'present_value', 'probabilities'] });
      for (const name of ['output', 'present_key', 'present_value', 'probabilities']) g.output(name, DataType.FLOAT);
      return g.build({ '': 17, [MS]: 1 });
    };
    const feeds = {
      q: floatTensor(randomFloats(S * H * D, 72), [1, S, H * D]),
      k: floatTensor(randomFloats(S * KH * D, 73), [1, S, KH * D]),
      v: floatTensor(randomFloats(S * KH * D, 74), [1, S, KH * D]),
      seqlens_k: int32Tensor([S - 1], [1]),
      total_sequence_length: int32Tensor([S], []),
    };
    const outputs = ['output', 'present_key', 'present_value', 'probabilities'];
    const expected = await runModel(build(false), feeds, outputs);
    const actual = await runModel(decomposeModel(build(true)).model, feeds, outputs);
    for (const name of outputs) expect(maxAbsDiff(actual[name].data, expected[name].data), name).toBeLessThanOrEqual(1e-5);
  });

  it('unsupported GroupQueryAttention / RotaryEmbedding settings are refused with one line naming operator and setting', () => {
    const refused = (opType: string, inputs: string[], attributes: Record<string, AttributeValue | undefined>, pattern: RegExp) => {
      const g = new GraphBuilder();
      for (const name of new Set(inputs.filter(Boolean))) g.input(name, DataType.FLOAT, [1, 2, 32]);
      g.ops(opType, inputs, attributes, { domain: MS, name: 'node0', outputNames: ['y'] });
      g.output('y', DataType.FLOAT);
      const run = () => decomposeModel(g.build({ '': 17, [MS]: 1 }));
      expect(run).toThrow(pattern);
      try {
        run();
      } catch (error) {
        expect((error as Error).message).not.toContain('\n');
      }
    };
    const gqa = ['q', 'k', 'v', '', '', 'seqlens', 'total'];
    const base = { num_heads: 2, kv_num_heads: 2 };
    refused('GroupQueryAttention', [...gqa, '', '', '', '', '', 'k_scale', 'v_scale'], base, /^com\.microsoft\.GroupQueryAttention node "node0": k_scale\/v_scale \(quantized KV cache\) is not supported/);
    refused('GroupQueryAttention', [...gqa, '', '', '', '', '', '', '', 'qn'], base, /GroupQueryAttention node "node0": q_norm_weight without k_norm_weight \(or the reverse\) is not supported/);
    refused('GroupQueryAttention', gqa, { ...base, sliding_window_cache: 1, local_window_size: 4 }, /GroupQueryAttention node "node0": sliding_window_cache = 1 is not supported/);
    refused('RotaryEmbedding', ['x', 'p', 'c', 's'], { is_packed_batching: 1 }, /^com\.microsoft\.RotaryEmbedding node "node0": is_packed_batching = 1 is not supported/);
  });

  it('SimplifiedLayerNormalization and SkipSimplifiedLayerNormalization', async () => {
    const hidden = 32;
    const S = 5;
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, S, hidden]);
    g.input('skip', DataType.FLOAT, [1, S, hidden]);
    const gamma = g.initializer('gamma', randomFloats(hidden, 50, 2), [hidden]);
    g.ops('SimplifiedLayerNormalization', ['x', gamma], { epsilon: { float: 1e-6 }, axis: -1 }, { outputNames: ['y'] });
    g.ops('SkipSimplifiedLayerNormalization', ['x', 'skip', gamma], { epsilon: { float: 1e-6 } }, { domain: MS, outputNames: ['z', '', '', 'sum'] });
    for (const name of ['y', 'z', 'sum']) g.output(name, DataType.FLOAT);
    const feeds = { x: floatTensor(randomFloats(S * hidden, 51, 3), [1, S, hidden]), skip: floatTensor(randomFloats(S * hidden, 52), [1, S, hidden]) };
    const diffs = await compare({ model: g.build({ '': 17, [MS]: 1 }), feeds, outputs: ['y', 'z', 'sum'] });
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
  });

  for (const zeroPoints of [false, true]) {
    it(`MatMulNBits 4-bit${zeroPoints ? ' with packed zero points' : ''}: exact dequantization`, async () => {
      const K = 80; // not a multiple of the block size: the last block is partial
      const N = 24;
      const blockSize = 32;
      const kBlocks = Math.ceil(K / blockSize);
      const next = random(60);
      const packed = Uint8Array.from({ length: N * kBlocks * (blockSize / 2) }, () => Math.floor(next() * 256));
      const scales = randomFloats(N * kBlocks, 61, 0.1);
      const zeroBytes = Math.ceil(kBlocks / 2);
      const zeros = Uint8Array.from({ length: N * zeroBytes }, () => Math.floor(next() * 256));
      const g = new GraphBuilder();
      g.input('a', DataType.FLOAT, [K, K]);
      const inputs = ['a', g.initializer('b', packed, [N, kBlocks, blockSize / 2]), g.initializer('scales', scales, [N * kBlocks])];
      if (zeroPoints) inputs.push(g.initializer('zeros', zeros, [N * zeroBytes]));
      g.ops('MatMulNBits', inputs, { K, N, bits: 4, block_size: blockSize }, { domain: MS, outputNames: ['y'] });
      g.output('y', DataType.FLOAT);
      // A = identity: the product is the dequantized weight matrix itself.
      const identity = new Float32Array(K * K);
      for (let i = 0; i < K; i++) identity[i * K + i] = 1;
      const feeds = { a: floatTensor(identity, [K, K]) };
      const model = g.build({ '': 17, [MS]: 1 });
      const fused = await runModel(model, feeds, ['y']);
      const expected = Float32Array.from(dequantizeNBits({ K, N, bits: 4, blockSize, packed, scales, zeroPoints: zeroPoints ? { packed: zeros } : undefined }));
      expect(maxAbsDiff(fused.y.data, expected)).toBe(0);
      const diffs = await compare({ model, feeds, outputs: ['y'] });
      expect(diffs.y).toBe(0);
    });
  }
});

describe('whole fused fixtures decomposed into standard operators', () => {
  for (const name of ['llama-fused-gqa', 'llama-fused-mha', 'llama-fused-q4', 'llama-fused-gqa-rope', 'llama-fused-gqa-qknorm', 'llama-fused-gqa-bias-sink', 'llama-fused-gqa-smooth'] as const) {
    it(`${name}: no com.microsoft node left, same logits and present key/values`, async () => {
      const { fixtureFolder } = await import('../../fixtures/models');
      const { readFile } = await import('node:fs/promises');
      const { decodeModel } = await import('../../../main/engine/onnx/proto');
      const { createSession } = await import('../../../main/engine/runtime');
      const { forwardFeeds } = await import('../../../main/engine/attention/feeds');
      const dir = await fixtureFolder(name);
      const model = decodeModel(await readFile(`${dir}/onnx/model.onnx`));
      const { model: decomposed } = decomposeModel(model);
      expect(decomposed.graph!.node.filter((n) => n.domain === MS).map((n) => n.opType)).toEqual([]);
      const session = await createSession(`${dir}/onnx/model.onnx`, 'cpu');
      const feeds = forwardFeeds(session, [1, 450, 4996, 17354, 1701, 29916, 432, 17204], {});
      await session.release();
      const outputs = model.graph!.output.map((o) => o.name);
      const expected = await runModel(model, feeds, outputs);
      const actual = await runModel(decomposed, feeds, outputs);
      for (const output of outputs) expect(maxAbsDiff(actual[output].data, expected[output].data)).toBeLessThanOrEqual(1e-4);
    });
  }
});
