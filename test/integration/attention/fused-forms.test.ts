// Fused-operator forms beyond the basic ones, each decomposition against onnxruntime's own kernels (float32, max
// abs diff ≤ 1e-5 on outputs and attention probabilities):
// - ONNX RotaryEmbedding (opset 23) against its CPU kernel;
// - MultiHeadAttention with packed QKV / packed KV: the CPU kernel refuses packed inputs ("not implemented for
//   CPU"), so the reference is the same kernel on the unpacked q, k, v, and the probabilities come from the ONNX
//   Attention kernel (qk_matmul_output_mode = 3);
// - com.microsoft Attention with do_rotary = 1: the CPU kernel refuses it ("Please fuse the model with MHA +
//   RotaryEmbedding"), so the reference is that graph of kernels: MatMul + Add, com.microsoft RotaryEmbedding with
//   caches computed here (base 10000) and the ONNX Attention kernel.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, makeValueInfo, type ModelProto } from '../../../main/engine/onnx/proto';
import { decomposeModel } from '../../../main/engine/onnx/decompose';
import type { Tensor } from '../../../main/engine/runtime';
import { floatTensor, int64Tensor, int32Tensor, maxAbsDiff, randomFloats, rotaryCache, runModel } from './helpers';

const MS = 'com.microsoft';

/** The decomposed model with its attention probabilities as an extra output `probabilities`. */
function decomposedWithProbabilities(model: ModelProto): ModelProto {
  const { model: decomposed, replaced } = decomposeModel(model);
  expect(replaced.length).toBe(1);
  const graph = decomposed.graph!;
  const probabilities = replaced[0].probabilities;
  if (!probabilities) return decomposed;
  const node = { ...graph.node[0], opType: 'Identity', domain: '', input: [probabilities], output: ['probabilities'], attribute: [], name: 'expose' };
  return { ...decomposed, graph: { ...graph, node: [...graph.node, node], output: [...graph.output, makeValueInfo('probabilities')] } };
}

describe('ONNX RotaryEmbedding (opset 23) against its onnxruntime kernel', () => {
  const B = 2;
  const N = 2;
  const H = 16;
  const S = 5;
  for (const variant of [
    { rank: 3, positions: true, interleaved: 0, rotaryDim: 0 },
    { rank: 3, positions: true, interleaved: 1, rotaryDim: 0 },
    { rank: 3, positions: true, interleaved: 0, rotaryDim: 8 },
    { rank: 4, positions: true, interleaved: 1, rotaryDim: 8 },
    { rank: 4, positions: false, interleaved: 0, rotaryDim: 0 },
    { rank: 3, positions: false, interleaved: 1, rotaryDim: 0 },
  ]) {
    const label = `${variant.rank}-D, ${variant.positions ? 'position_ids' : 'per-token caches'}, ${variant.interleaved ? 'interleaved' : 'halves'}, rotary ${variant.rotaryDim || H} of ${H}`;
    it(label, async () => {
      const width = (variant.rotaryDim || H) / 2;
      const dims = variant.rank === 4 ? [B, N, S, H] : [B, S, N * H];
      const g = new GraphBuilder();
      g.input('x', DataType.FLOAT, dims);
      const feeds: Record<string, Tensor> = { x: floatTensor(randomFloats(B * S * N * H, 70), dims) };
      let inputs: string[];
      if (variant.positions) {
        const { cos, sin } = rotaryCache(32, width);
        g.input('position_ids', DataType.INT64, [B, S]);
        feeds.position_ids = int64Tensor([3, 4, 5, 6, 7, 0, 1, 2, 3, 4], [B, S]);
        inputs = ['x', g.initializer('cos', cos, [32, width]), g.initializer('sin', sin, [32, width]), 'position_ids'];
      } else {
        // Per-token caches [B, S, r/2]: rows of a table at arbitrary positions.
        const { cos, sin } = rotaryCache(32, width);
        const rows = [9, 2, 31, 4, 17, 0, 1, 2, 3, 4];
        const pick = (table: Float32Array) => Float32Array.from(rows.flatMap((p) => Array.from(table.subarray(p * width, (p + 1) * width))));
        inputs = ['x', g.initializer('cos', pick(cos), [B, S, width]), g.initializer('sin', pick(sin), [B, S, width])];
      }
      const attributes = { interleaved: variant.interleaved, num_heads: variant.rank === 3 ? N : undefined, rotary_embedding_dim: variant.rotaryDim || undefined };
      g.ops('RotaryEmbedding', inputs, attributes, { outputNames: ['y'] });
      g.output('y', DataType.FLOAT);
      const model = g.build({ '': 23 });
      const expected = await runModel(model, feeds, ['y']);
      const actual = await runModel(decomposedWithProbabilities(model), feeds, ['y']);
      expect(actual.y.dims).toEqual(dims);
      expect(maxAbsDiff(actual.y.data, expected.y.data)).toBeLessThanOrEqual(1e-5);
      // The rotation did something (a pass-through would also "match" for a broken kernel comparison).
      expect(maxAbsDiff(actual.y.data, feeds.x.data as Float32Array)).toBeGreaterThan(0.1);
    });
  }

  it('refuses a 3-D input without num_heads, naming operator and attribute', () => {
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, S, N * H]);
    const { cos, sin } = rotaryCache(8, H / 2);
    g.ops('RotaryEmbedding', ['x', g.initializer('cos', cos, [8, H / 2]), g.initializer('sin', sin, [8, H / 2]), 'ids'], {}, { outputNames: ['y'], name: 'rope' });
    g.input('ids', DataType.INT64, [1, S]);
    g.output('y', DataType.FLOAT);
    expect(() => decomposeModel(g.build({ '': 23 }))).toThrow('RotaryEmbedding node "rope": a 3-D input without num_heads is not supported by the decomposition');
  });
});

/** Packed inputs and the same numbers unpacked: [B, S, N, M, H] → M tensors [B, S, N·H]. */
function unpackData(data: Float32Array, B: number, S: number, N: number, M: number, H: number): Float32Array[] {
  const out = Array.from({ length: M }, () => new Float32Array(B * S * N * H));
  for (let i = 0; i < B * S; i++) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) for (let h = 0; h < H; h++) out[m][(i * N + n) * H + h] = data[((i * N + n) * M + m) * H + h];
  return out;
}

/**
 * Reference attention from kernels: MultiHeadAttention on separate q, k, v (output), ONNX Attention (probabilities),
 * both after adding the bias with a plain Add.
 */
async function referenceAttention(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array, dims: { B: number; S: number; N: number; H: number }, causal: boolean) {
  const { B, S, N, H } = dims;
  const shape = [B, S, N * H];
  const g = new GraphBuilder();
  for (const name of ['q', 'k', 'v']) g.input(name, DataType.FLOAT, shape);
  const biasName = g.initializer('bias', bias, [3 * N * H]);
  g.ops('MultiHeadAttention', ['q', 'k', 'v', biasName], { num_heads: N, unidirectional: causal ? 1 : 0 }, { domain: MS, outputNames: ['output'] });
  const [qb, kb, vb] = g.ops('Split', [biasName, g.int64([N * H, N * H, N * H])], { axis: 0 }, { outputs: 3 });
  const biased = [g.op('Add', ['q', qb]), g.op('Add', ['k', kb]), g.op('Add', ['v', vb])];
  g.ops('Attention', biased, { q_num_heads: N, kv_num_heads: N, is_causal: causal ? 1 : 0, qk_matmul_output_mode: 3 }, { outputNames: ['reference_output', '', '', 'probabilities'] });
  g.output('output', DataType.FLOAT);
  g.output('probabilities', DataType.FLOAT);
  const feeds = { q: floatTensor(q, shape), k: floatTensor(k, shape), v: floatTensor(v, shape) };
  return runModel(g.build({ '': 23, [MS]: 1 }), feeds, ['output', 'probabilities']);
}

describe('MultiHeadAttention with packed inputs against the kernel on unpacked ones', () => {
  const dims = { B: 2, S: 6, N: 2, H: 16 };
  const { B, S, N, H } = dims;
  const bias = randomFloats(3 * N * H, 80, 0.5);

  it('packed QKV [B, S, N, 3, H], bias, causal: output and probabilities', async () => {
    const packed = randomFloats(B * S * N * 3 * H, 81);
    const g = new GraphBuilder();
    g.input('qkv', DataType.FLOAT, [B, S, N, 3, H]);
    g.ops('MultiHeadAttention', ['qkv', '', '', g.initializer('bias', bias, [3 * N * H])], { num_heads: N, unidirectional: 1 }, { domain: MS, outputNames: ['output'] });
    g.output('output', DataType.FLOAT);
    const actual = await runModel(decomposedWithProbabilities(g.build({ '': 17, [MS]: 1 })), { qkv: floatTensor(packed, [B, S, N, 3, H]) }, ['output', 'probabilities']);
    const [q, k, v] = unpackData(packed, B, S, N, 3, H);
    const expected = await referenceAttention(q, k, v, bias, dims, true);
    expect(actual.output.dims).toEqual([B, S, N * H]);
    expect(maxAbsDiff(actual.output.data, expected.output.data)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(actual.probabilities.data, expected.probabilities.data)).toBeLessThanOrEqual(1e-5);
  });

  it('packed KV [B, L, N, 2, H], bias, not causal: output and probabilities', async () => {
    const query = randomFloats(B * S * N * H, 82);
    const packed = randomFloats(B * S * N * 2 * H, 83);
    const g = new GraphBuilder();
    g.input('q', DataType.FLOAT, [B, S, N * H]);
    g.input('kv', DataType.FLOAT, [B, S, N, 2, H]);
    g.ops('MultiHeadAttention', ['q', 'kv', '', g.initializer('bias', bias, [3 * N * H])], { num_heads: N }, { domain: MS, outputNames: ['output'] });
    g.output('output', DataType.FLOAT);
    const feeds = { q: floatTensor(query, [B, S, N * H]), kv: floatTensor(packed, [B, S, N, 2, H]) };
    const actual = await runModel(decomposedWithProbabilities(g.build({ '': 17, [MS]: 1 })), feeds, ['output', 'probabilities']);
    const [k, v] = unpackData(packed, B, S, N, 2, H);
    const expected = await referenceAttention(query, k, v, bias, dims, false);
    expect(maxAbsDiff(actual.output.data, expected.output.data)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(actual.probabilities.data, expected.probabilities.data)).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a 3-D query without key and value, naming operator and form', () => {
    const g = new GraphBuilder();
    g.input('q', DataType.FLOAT, [1, S, N * H]);
    g.ops('MultiHeadAttention', ['q'], { num_heads: N }, { domain: MS, outputNames: ['output'], name: 'mha' });
    g.output('output', DataType.FLOAT);
    expect(() => decomposeModel(g.build({ '': 17, [MS]: 1 }))).toThrow(
      'com.microsoft.MultiHeadAttention node "mha": a 3-D query without key and value (packed QKV is [B, S, N, 3, H]) is not supported by the decomposition',
    );
  });
});

describe('com.microsoft Attention with do_rotary = 1 against MatMul + RotaryEmbedding + Attention kernels', () => {
  const N = 2;
  const H = 16;
  const hidden = N * H;

  /** Runs both graphs for one configuration; returns the largest differences. */
  async function compareRotary(options: { S: number; past: number; rotaryDim?: number; causal: boolean; mask?: boolean }) {
    const { S, past: P } = options;
    const T = P + S;
    const r = options.rotaryDim ?? H;
    const weights = randomFloats(hidden * 3 * hidden, 90, 0.3);
    const bias = randomFloats(3 * hidden, 91, 0.3);
    const x = randomFloats(S * hidden, 92);
    const pastKey = randomFloats(N * P * H, 93);
    const pastValue = randomFloats(N * P * H, 94);
    const mask = Array.from({ length: T }, (_, t) => (options.mask && t === 1 ? 0 : 1));

    // Fused: com.microsoft Attention with do_rotary, past [2, 1, N, P, H], raw mask [1, T].
    const fused = new GraphBuilder();
    fused.input('x', DataType.FLOAT, [1, S, hidden]);
    if (P > 0) fused.input('past', DataType.FLOAT, [2, 1, N, P, H]);
    fused.input('mask', DataType.INT32, [1, T]);
    const attributes = { num_heads: N, do_rotary: 1, rotary_embedding_dim: options.rotaryDim, unidirectional: options.causal ? 1 : 0 };
    const fusedInputs = ['x', fused.initializer('w', weights, [hidden, 3 * hidden]), fused.initializer('b', bias, [3 * hidden]), 'mask', P > 0 ? 'past' : ''];
    fused.ops('Attention', fusedInputs, attributes, { domain: MS, outputNames: ['output', 'present'] });
    fused.output('output', DataType.FLOAT);
    fused.output('present', DataType.FLOAT);
    const pastData = new Float32Array([...pastKey, ...pastValue]);
    const fusedFeeds: Record<string, Tensor> = { x: floatTensor(x, [1, S, hidden]), mask: int32Tensor(mask, [1, T]) };
    if (P > 0) fusedFeeds.past = floatTensor(pastData, [2, 1, N, P, H]);
    const actual = await runModel(decomposedWithProbabilities(fused.build({ '': 17, [MS]: 1 })), fusedFeeds, ['output', 'present', 'probabilities']);

    // Reference from kernels.
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, S, hidden]);
    g.input('past_key', DataType.FLOAT, [1, N, P, H]);
    g.input('past_value', DataType.FLOAT, [1, N, P, H]);
    g.input('position_ids', DataType.INT64, [1, S]);
    const projected = g.op('Add', [g.op('MatMul', ['x', g.initializer('w', weights, [hidden, 3 * hidden])]), g.initializer('b', bias, [3 * hidden])]);
    const [q, k, v] = g.ops('Split', [projected, g.int64([hidden, hidden, hidden])], { axis: 2 }, { outputs: 3 });
    const { cos, sin } = rotaryCache(64, r / 2);
    const caches = [g.initializer('cos', cos, [64, r / 2]), g.initializer('sin', sin, [64, r / 2])];
    const rotary = (t: string) => g.op('RotaryEmbedding', [t, 'position_ids', ...caches], { num_heads: N, rotary_embedding_dim: options.rotaryDim, interleaved: 0 }, { domain: MS });
    // Additive mask [1, 1, S, T]: 0 where allowed, lowest where the raw mask is 0 (a key_padding-style bias).
    const additive = Float32Array.from({ length: S * T }, (_, i) => (mask[i % T] ? 0 : -10000));
    const attentionInputs = [rotary(q), rotary(k), v, g.initializer('mask_bias', additive, [1, 1, S, T]), 'past_key', 'past_value'];
    g.ops('Attention', attentionInputs, { q_num_heads: N, kv_num_heads: N, is_causal: options.causal ? 1 : 0, qk_matmul_output_mode: 3 }, { outputNames: ['output', 'present_key', 'present_value', 'probabilities'] });
    for (const name of ['output', 'present_key', 'present_value', 'probabilities']) g.output(name, DataType.FLOAT);
    const referenceFeeds = {
      x: floatTensor(x, [1, S, hidden]),
      past_key: floatTensor(pastKey, [1, N, P, H]),
      past_value: floatTensor(pastValue, [1, N, P, H]),
      position_ids: int64Tensor(Array.from({ length: S }, (_, s) => P + s), [1, S]),
    };
    const expected = await runModel(g.build({ '': 23, [MS]: 1 }), referenceFeeds, ['output', 'present_key', 'present_value', 'probabilities']);
    return {
      output: maxAbsDiff(actual.output.data, expected.output.data),
      present: maxAbsDiff(actual.present.data, [...expected.present_key.data, ...expected.present_value.data]),
      probabilities: maxAbsDiff(actual.probabilities.data, expected.probabilities.data),
    };
  }

  for (const options of [
    { S: 6, past: 0, causal: true, label: 'whole-head rotary, causal' },
    { S: 6, past: 0, causal: false, rotaryDim: 8, mask: true, label: 'rotary on 8 of 16 channels, raw mask' },
    { S: 1, past: 4, causal: true, label: 'one-token step after a past of 4 (position 4)' },
  ]) {
    it(options.label, async () => {
      const diffs = await compareRotary(options);
      for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(1e-5);
    });
  }

  it('refuses rotary_embedding_dim beyond the head size, naming operator and attribute', () => {
    const g = new GraphBuilder();
    g.input('x', DataType.FLOAT, [1, 4, hidden]);
    g.ops('Attention', ['x', g.initializer('w', randomFloats(hidden * 3 * hidden, 1), [hidden, 3 * hidden])], { num_heads: N, do_rotary: 1, rotary_embedding_dim: 20 }, { domain: MS, outputNames: ['y'], name: 'attn' });
    g.output('y', DataType.FLOAT);
    expect(() => decomposeModel(g.build({ '': 17, [MS]: 1 }))).toThrow(
      'com.microsoft.Attention node "attn": do_rotary = 1 with rotary_embedding_dim = 20 (head size 16) is not supported by the decomposition',
    );
  });
});
