// Derivative graphs through the decompositions of MultiHeadAttention with packed QKV, com.microsoft Attention with
// do_rotary = 1 and ONNX RotaryEmbedding (opset 23), in float64, against central finite differences of the same
// decomposed forward graph: single operators, then whole fixtures of the 'llama' weights in those forms against
// the 'llama' fixture itself (standard operators). The operators' forward values are checked against
// onnxruntime's kernels in test/integration/attention/fused-forms.test.ts.
import { describe, expect, it } from 'vitest';
import type { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { GraphIndex } from '../../../main/engine/onnx/graph-index';
import { makeNode, type AttributeValue } from '../../../main/engine/onnx/proto';
import { decomposeModel, DECOMPOSERS } from '../../../main/engine/onnx/decompose';
import { checkGradient, type InputSpec } from '../../unit/gradients/finite-difference';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { decodeModel } from '../../../main/engine/onnx/proto';
import { attentionOf, finiteDifferenceCheck, logitsOf, relativeError, saliencyOf } from './model-checks';
import { readFile } from 'node:fs/promises';

const MS = 'com.microsoft';

/**
 * Writes the decomposition of one fused node into `b` (as decomposeModel would) and returns its first output, so
 * that the finite-difference helper differentiates standard operators only.
 */
function decomposed(b: GraphBuilder, opsets: Record<string, number>, op: { type: string; domain?: string; inputs: string[]; attributes: Record<string, AttributeValue | undefined> }): string {
  const node = makeNode(op.type, op.inputs, ['fused_output'], 'fused', op.attributes, op.domain ?? '');
  const index = new GraphIndex(b.build(opsets).graph!);
  DECOMPOSERS[`${op.domain ?? ''}:${op.type}`](node, { builder: b, index, opset: opsets[''] });
  return 'fused_output';
}

/** cos/sin tables [positions, width] as float64 constants. */
function caches(b: GraphBuilder, type: number, positions: number, width: number): [string, string] {
  const angles = Array.from({ length: positions * width }, (_, i) => Math.floor(i / width) * 10000 ** (-(i % width) / width));
  return [b.floatOf(type, angles.map(Math.cos), [positions, width]), b.floatOf(type, angles.map(Math.sin), [positions, width])];
}

const ONNX_23 = { '': 23 };
const WITH_MICROSOFT = { '': 17, [MS]: 1 };

/** One fused node per case: its inputs (the differentiated ones first) and how its graph is built. */
const OPERATOR_CASES: { name: string; opsets: Record<string, number>; inputs: InputSpec[]; build: (b: GraphBuilder, type: number, inputs: string[]) => string }[] = [
  {
    name: 'ONNX RotaryEmbedding: 3-D, interleaved, rotary on 4 of 8 channels, position_ids',
    opsets: ONNX_23,
    inputs: [
      { name: 'x', dims: [1, 3, 16] },
      { name: 'ids', dims: [1, 3], wrt: false, values: [2, 0, 5] },
    ],
    build: (b, type, [x]) => {
      b.ops('Cast', ['ids'], { to: 7 }, { outputNames: ['positions'] });
      return decomposed(b, ONNX_23, { type: 'RotaryEmbedding', inputs: [x, ...caches(b, type, 8, 2), 'positions'], attributes: { num_heads: 2, interleaved: 1, rotary_embedding_dim: 4 } });
    },
  },
  {
    // Caches computed in the graph (not constants), as exporters write them.
    name: 'ONNX RotaryEmbedding: 4-D [1, 2, 3, 8], halves, per-token caches [1, 3, 4]',
    opsets: ONNX_23,
    inputs: [{ name: 'x', dims: [1, 2, 3, 8] }],
    build: (b, type, [x]) => {
      const [cos, sin] = caches(b, type, 3, 4).map((name) => b.op('Unsqueeze', [name, b.int64([0])]));
      return decomposed(b, ONNX_23, { type: 'RotaryEmbedding', inputs: [x, cos, sin], attributes: { interleaved: 0 } });
    },
  },
  {
    name: 'MultiHeadAttention: packed QKV [1, 4, 2, 3, 4], bias, causal',
    opsets: WITH_MICROSOFT,
    inputs: [{ name: 'qkv', dims: [1, 4, 2, 3, 4] }],
    build: (b, type, [qkv]) => {
      const bias = b.floatOf(type, Array.from({ length: 24 }, (_, i) => Math.sin(i)), [24]);
      return decomposed(b, WITH_MICROSOFT, { type: 'MultiHeadAttention', domain: MS, inputs: [qkv, '', '', bias], attributes: { num_heads: 2, unidirectional: 1 } });
    },
  },
  {
    name: 'com.microsoft Attention: do_rotary = 1 on 4 of 8 channels, causal',
    opsets: WITH_MICROSOFT,
    inputs: [{ name: 'x', dims: [1, 4, 16] }],
    build: (b, type, [x]) => {
      const weights = b.floatOf(type, Array.from({ length: 16 * 48 }, (_, i) => 0.3 * Math.sin(1.7 * i)), [16, 48]);
      const bias = b.floatOf(type, Array.from({ length: 48 }, (_, i) => 0.2 * Math.cos(i)), [48]);
      const attributes = { num_heads: 2, do_rotary: 1, rotary_embedding_dim: 4, unidirectional: 1 };
      return decomposed(b, WITH_MICROSOFT, { type: 'Attention', domain: MS, inputs: [x, weights, bias], attributes });
    },
  },
];

describe('finite-difference gradients through fused-operator decompositions (float64)', () => {
  for (const testCase of OPERATOR_CASES) {
    it(testCase.name, async () => {
      const { maxError, maxMagnitude } = await checkGradient(testCase);
      expect(maxMagnitude).toBeGreaterThan(0.1);
      expect(maxError).toBeLessThan(1e-7);
    });
  }
});

describe('whole fixtures in the CUDA-only forms, explained through their decompositions', () => {
  for (const name of ['llama-fused-mha-packed', 'llama-fused-attention-rotary'] as FixtureName[]) {
    it(`${name}: logits, attention and saliency of the 'llama' fixture; gradients equal finite differences`, async () => {
      const path = `${await fixtureFolder(name)}/onnx/model.onnx`;
      const reference = `${await fixtureFolder('llama')}/onnx/model.onnx`;
      const { model: decomposed } = decomposeModel(decodeModel(await readFile(path)));
      expect(decomposed.graph!.node.filter((n) => n.domain === MS && /Attention/.test(n.opType))).toEqual([]);
      // Measured (packed / rotary): logits 4.7e-7 / 5.0e-7 of the largest, attention 2.7e-7 / 2.4e-7, saliency
      // 1.0e-7 / 6e-8; finite-difference gap 5e-10 / 3e-10 with gradients up to 0.41.
      expect(relativeError(await logitsOf(decomposed), await logitsOf(reference))).toBeLessThan(1e-5);
      expect(relativeError(await attentionOf(path), await attentionOf(reference))).toBeLessThan(1e-5);
      expect(relativeError(await saliencyOf(path), await saliencyOf(reference))).toBeLessThan(1e-4);
      await finiteDifferenceCheck(path);
    });
  }
});
