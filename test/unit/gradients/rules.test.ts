// Every gradient rule against central finite differences, in float64 where onnxruntime has float64 kernels,
// across broadcasting cases, always with a leading target axis of R = 2 seed rows.
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../main/engine/onnx/proto';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { checkGradient, type InputSpec } from './finite-difference';
import { GRADIENT_RULES, GradientError } from '../../../main/engine/gradients/rules';

interface Case {
  name: string;
  inputs: InputSpec[];
  build: (b: GraphBuilder, type: number, x: string[]) => string;
  type?: number;
  opsets?: Record<string, number>;
  tolerance?: number;
}

const F = DataType.FLOAT;
const MS = { domain: 'com.microsoft' };
const binaryShapes: [string, number[], number[]][] = [
  ['same', [2, 3], [2, 3]],
  ['row', [2, 3], [3]],
  ['column', [2, 3], [2, 1]],
  ['scalar', [2, 3], []],
  ['leading axis', [3], [2, 2, 3]],
  ['both stretched', [2, 1, 3], [4, 1]],
];

function binaryCases(op: string, second: InputSpec['values'] = 'any'): Case[] {
  return binaryShapes.map(([label, a, b]) => ({
    name: `${op} ${label}`,
    inputs: [{ name: 'a', dims: a }, { name: 'b', dims: b, values: second }],
    build: (g, _t, [x, y]) => g.op(op, [x, y]),
  }));
}

const unary = (op: string, values: InputSpec['values'] = 'any', type?: number, tolerance?: number): Case => ({
  name: op,
  inputs: [{ name: 'x', dims: [2, 3, 2], values }],
  build: (g, _t, [x]) => g.op(op, [x]),
  type,
  tolerance,
});

const cases: Case[] = [
  ...binaryCases('Add'),
  ...binaryCases('Sub'),
  ...binaryCases('Mul'),
  ...binaryCases('Div', 'positive'),
  { name: 'Pow square (constant exponent)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, t, [x]) => g.op('Pow', [x, g.floatOf(t, 2, [])]) },
  { name: 'Pow cube', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, t, [x]) => g.op('Pow', [x, g.floatOf(t, 3, [])]) },
  { name: 'Pow both inputs', inputs: [{ name: 'x', dims: [2, 3], values: 'positive' }, { name: 'y', dims: [3] }], build: (g, _t, [x, y]) => g.op('Pow', [x, y]) },
  unary('Sqrt', 'positive'),
  unary('Reciprocal', 'positive'),
  unary('Neg'),
  unary('Exp'),
  unary('Log', 'positive'),
  unary('Tanh'),
  unary('Sigmoid'),
  unary('Relu', [0.3, -0.4, 1.2, -1.1, 0.7, -0.2, 0.5, 0.9, -0.8, 0.25, -0.6, 1.4]),
  unary('Erf', 'any', F, 3e-3),
  unary('Identity'),
  { name: 'Gelu exact (opset 20)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Gelu', [x]), type: F, opsets: { '': 20 }, tolerance: 3e-3 },
  { name: 'Gelu tanh (opset 20)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Gelu', [x], { approximate: 'tanh' }), type: F, opsets: { '': 20 }, tolerance: 3e-3 },
  { name: 'Gelu (com.microsoft, exact)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Gelu', [x], {}, MS), type: F, tolerance: 1e-4 },
  { name: 'FastGelu with bias (com.microsoft)', inputs: [{ name: 'x', dims: [2, 3] }, { name: 'c', dims: [3] }], build: (g, _t, [x, c]) => g.op('FastGelu', [x, c], {}, MS), type: F, tolerance: 1e-4 },
  { name: 'FastGelu without bias (com.microsoft)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('FastGelu', [x], {}, MS), type: F, tolerance: 1e-4 },
  { name: 'BiasGelu (com.microsoft)', inputs: [{ name: 'x', dims: [2, 3] }, { name: 'c', dims: [3] }], build: (g, _t, [x, c]) => g.op('BiasGelu', [x, c], {}, MS), type: F, tolerance: 1e-4 },
  { name: 'QuickGelu default alpha (com.microsoft)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('QuickGelu', [x], {}, MS), type: F, tolerance: 1e-4 },
  { name: 'QuickGelu alpha 1.0 (com.microsoft)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('QuickGelu', [x], { alpha: { float: 1 } }, MS), type: F, tolerance: 1e-4 },
  { name: 'Cast float64 → float64', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Mul', [g.op('Cast', [x], { to: DataType.DOUBLE }), x]) },
  { name: 'Where', inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }], build: (g, _t, [x, y]) => g.op('Where', [g.op('Greater', [x, g.floatOf(_t, 0.1, [])]), x, y]) },
  { name: 'Max two inputs', inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }], build: (g, _t, [x, y]) => g.op('Max', [x, y]) },
  { name: 'Min two inputs with broadcast', inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [2, 1] }], build: (g, _t, [x, y]) => g.op('Min', [x, y]) },
  { name: 'Clip with min and max inputs', inputs: [{ name: 'x', dims: [2, 3], values: [0.3, -0.4, 1.2, -1.1, 0.7, -0.2] }], build: (g, t, [x]) => g.op('Clip', [x, g.floatOf(t, -0.5, []), g.floatOf(t, 1, [])]) },
  { name: 'Softmax last axis', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('Softmax', [x], { axis: -1 }) },
  { name: 'Softmax middle axis', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('Softmax', [x], { axis: 1 }) },
  { name: 'LogSoftmax', inputs: [{ name: 'x', dims: [2, 5] }], build: (g, _t, [x]) => g.op('LogSoftmax', [x], { axis: -1 }) },
  { name: 'ReduceMean last axis keepdims (opset 18 input)', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('ReduceMean', [x, g.int64([-1])], { keepdims: 1 }) },
  { name: 'ReduceMean axes 0,2 no keepdims', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('ReduceMean', [x, g.int64([0, 2])], { keepdims: 0 }) },
  { name: 'ReduceMean attribute form (opset 13)', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('ReduceMean', [x], { axes: [1], keepdims: 0 }), opsets: { '': 13 } },
  { name: 'ReduceSum axes input', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('ReduceSum', [x, g.int64([1])], { keepdims: 0 }) },
  { name: 'ReduceSum all axes', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('ReduceSum', [x], { keepdims: 0 }) },
  { name: 'ReduceSum attribute form (opset 11)', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('ReduceSum', [x], { axes: [0, 2] }), opsets: { '': 11 } },
  { name: 'MatMul batched × matrix', inputs: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [4, 5] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul batched × batched', inputs: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [2, 4, 5] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul matrix × batched (broadcast a)', inputs: [{ name: 'a', dims: [3, 4] }, { name: 'b', dims: [2, 4, 5] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul batch 1 × batch 2', inputs: [{ name: 'a', dims: [1, 2, 3, 4] }, { name: 'b', dims: [3, 1, 4, 2] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul vector × matrix', inputs: [{ name: 'a', dims: [4] }, { name: 'b', dims: [4, 3] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul batched × vector', inputs: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [4] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul matrix × vector', inputs: [{ name: 'a', dims: [3, 4] }, { name: 'b', dims: [4] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul vector × vector', inputs: [{ name: 'a', dims: [4] }, { name: 'b', dims: [4] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'MatMul vector × batched', inputs: [{ name: 'a', dims: [4] }, { name: 'b', dims: [2, 4, 3] }], build: (g, _t, [a, b]) => g.op('MatMul', [a, b]) },
  { name: 'Gemm plain with bias row', inputs: [{ name: 'a', dims: [3, 4] }, { name: 'b', dims: [4, 2] }, { name: 'c', dims: [2] }], build: (g, _t, [a, b, c]) => g.op('Gemm', [a, b, c]) },
  { name: 'Gemm transA transB alpha beta', inputs: [{ name: 'a', dims: [4, 3] }, { name: 'b', dims: [2, 4] }, { name: 'c', dims: [3, 1] }], build: (g, _t, [a, b, c]) => g.op('Gemm', [a, b, c], { transA: 1, transB: 1, alpha: 0.7, beta: 1.3 }) },
  { name: 'Reshape', inputs: [{ name: 'x', dims: [2, 6] }], build: (g, _t, [x]) => g.op('Reshape', [x, g.int64([3, -1, 2])]) },
  { name: 'Flatten', inputs: [{ name: 'x', dims: [2, 3, 2] }], build: (g, _t, [x]) => g.op('Flatten', [x], { axis: 2 }) },
  { name: 'Squeeze and Unsqueeze', inputs: [{ name: 'x', dims: [2, 1, 3] }], build: (g, _t, [x]) => g.op('Unsqueeze', [g.op('Squeeze', [x, g.int64([1])]), g.int64([0, 3])]) },
  { name: 'Transpose', inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (g, _t, [x]) => g.op('Transpose', [x], { perm: [2, 0, 1] }) },
  { name: 'Transpose default perm', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Transpose', [x]) },
  { name: 'Slice with negative start and axes', inputs: [{ name: 'x', dims: [3, 6] }], build: (g, _t, [x]) => g.op('Slice', [x, g.int64([1, -4]), g.int64([3, 1000]), g.int64([0, -1])]) },
  { name: 'Slice rotary halves then Concat', inputs: [{ name: 'x', dims: [2, 4] }], build: (g, _t, [x]) => g.op('Concat', [g.op('Neg', [g.op('Slice', [x, g.int64([2]), g.int64([4]), g.int64([1])])]), g.op('Slice', [x, g.int64([0]), g.int64([2]), g.int64([1])])], { axis: -1 }) },
  { name: 'Slice step 2 with a plain axis', inputs: [{ name: 'x', dims: [3, 7] }], build: (g, _t, [x]) => g.op('Slice', [x, g.int64([1, 1]), g.int64([3, 7]), g.int64([0, 1]), g.int64([1, 2])]) },
  { name: 'Slice reversed axis (step -1 from the end)', inputs: [{ name: 'x', dims: [4, 5] }], build: (g, _t, [x]) => g.op('Slice', [x, g.int64([-1]), g.int64([-1000]), g.int64([-1]), g.int64([-1])]) },
  { name: 'Slice steps -2 and 3 on two axes', inputs: [{ name: 'x', dims: [5, 6] }], build: (g, _t, [x]) => g.op('Slice', [x, g.int64([4, 1]), g.int64([0, 6]), g.int64([0, 1]), g.int64([-2, 3])]) },
  { name: 'Slice step -3 with clamped start', inputs: [{ name: 'x', dims: [2, 8] }], build: (g, _t, [x]) => g.op('Slice', [x, g.int64([100]), g.int64([0]), g.int64([1]), g.int64([-3])]) },
  { name: 'Tile 2-D', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Tile', [x, g.int64([2, 3])]) },
  { name: 'Tile 3-D with a size-1 axis', inputs: [{ name: 'x', dims: [2, 1, 3] }], build: (g, _t, [x]) => g.op('Tile', [x, g.int64([1, 4, 2])]) },
  { name: 'Tile with repeats all 1', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Mul', [g.op('Tile', [x, g.int64([1, 1])]), x]) },
  { name: 'Concat three inputs', inputs: [{ name: 'a', dims: [2, 1] }, { name: 'b', dims: [2, 3] }, { name: 'c', dims: [2, 2] }], build: (g, _t, xs) => g.op('Concat', xs, { axis: 1 }) },
  { name: 'Split with sizes, one output unused', inputs: [{ name: 'x', dims: [2, 6] }], build: (g, _t, [x]) => { const [p, , r] = g.ops('Split', [x, g.int64([1, 2, 3])], { axis: 1 }, { outputs: 3 }); return g.op('Concat', [r, p], { axis: 1 }); } },
  { name: 'Gather rows with repeats', inputs: [{ name: 'x', dims: [4, 3] }], build: (g, _t, [x]) => g.op('Gather', [x, g.int64([2, 0, 2, -1], [2, 2])], { axis: 0 }) },
  { name: 'Gather scalar index on axis 1', inputs: [{ name: 'x', dims: [2, 4, 3] }], build: (g, _t, [x]) => g.op('Gather', [x, g.int64(2, [])], { axis: 1 }) },
  { name: 'Expand', inputs: [{ name: 'x', dims: [3, 1] }], build: (g, _t, [x]) => g.op('Expand', [x, g.int64([2, 3, 4])]) },
  { name: 'Dropout at inference (mask output unused)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Mul', [g.ops('Dropout', [x], {}, { outputs: 2 })[0], x]) },
  { name: 'Sum three inputs with broadcast', inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [3] }, { name: 'c', dims: [2, 1] }], build: (g, _t, xs) => g.op('Sum', xs) },
  { name: 'Same tensor used twice (x·x + x)', inputs: [{ name: 'x', dims: [2, 3] }], build: (g, _t, [x]) => g.op('Add', [g.op('Mul', [x, x]), x]) },
  { name: 'LayerNormalization with scale and bias', inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 's', dims: [4] }, { name: 'c', dims: [4] }], build: (g, _t, [x, s, c]) => g.op('LayerNormalization', [x, s, c], { axis: -1, epsilon: 1e-5 }) },
  { name: 'LayerNormalization over two axes', inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 's', dims: [3, 4] }], build: (g, _t, [x, s]) => g.op('LayerNormalization', [x, s], { axis: 1, epsilon: 1e-5 }) },
  {
    name: 'SimplifiedLayerNormalization (onnxruntime registers it in the default domain)',
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 's', dims: [4] }],
    build: (g, _t, [x, s]) => g.op('SimplifiedLayerNormalization', [x, s], { axis: -1, epsilon: 1e-5 }),
    type: F,
    tolerance: 3e-3,
  },
  {
    name: 'RMSNormalization (opset 23)',
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 's', dims: [4] }],
    build: (g, _t, [x, s]) => g.op('RMSNormalization', [x, s], { axis: -1, epsilon: 1e-5 }),
    opsets: { '': 23 },
  },
  {
    name: 'SkipLayerNormalization (com.microsoft) with beta, bias and sum output',
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 'k', dims: [2, 3, 4] }, { name: 's', dims: [4] }, { name: 'c', dims: [4] }, { name: 'd', dims: [4] }],
    build: (g, _t, [x, k, s, c, d]) => {
      const [y, , , sum] = g.ops('SkipLayerNormalization', [x, k, s, c, d], { epsilon: 1e-5 }, { domain: 'com.microsoft', outputs: 4 });
      return g.op('Mul', [y, sum]);
    },
    type: F,
    tolerance: 3e-3,
  },
  {
    name: 'SkipSimplifiedLayerNormalization (com.microsoft) with sum output',
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 'k', dims: [2, 3, 4] }, { name: 's', dims: [4] }],
    build: (g, _t, [x, k, s]) => {
      const [y, , , sum] = g.ops('SkipSimplifiedLayerNormalization', [x, k, s], { epsilon: 1e-5 }, { domain: 'com.microsoft', outputs: 4 });
      return g.op('Mul', [y, sum]);
    },
    type: F,
    tolerance: 3e-3,
  },
];

/** Operator types of the nodes a case differentiates: those reading a value that depends on a differentiated input. */
function differentiatedOperators(testCase: Case): string[] {
  const b = new GraphBuilder();
  const type = testCase.type ?? DataType.DOUBLE;
  const names = testCase.inputs.map((spec) => b.input(spec.name, type, spec.dims));
  testCase.build(b, type, names);
  const reached = new Set(names.filter((_, i) => testCase.inputs[i].wrt !== false));
  const operators: string[] = [];
  for (const node of b.nodes) {
    if (!node.input.some((input) => reached.has(input))) continue;
    operators.push(node.opType);
    for (const output of node.output) reached.add(output);
  }
  return operators;
}

describe('gradient rules against finite differences', () => {
  it('has a case for every registered rule', () => {
    const covered = new Set(cases.flatMap(differentiatedOperators));
    expect(Object.keys(GRADIENT_RULES).filter((opType) => !covered.has(opType))).toEqual([]);
  });

  for (const testCase of cases) {
    it(testCase.name, async () => {
      const result = await checkGradient({
        type: testCase.type,
        opsets: testCase.opsets,
        inputs: testCase.inputs,
        build: testCase.build,
      });
      expect(result.maxMagnitude).toBeGreaterThan(1e-3);
      expect(result.maxError).toBeLessThan((testCase.tolerance ?? 1e-6) * Math.max(1, result.maxMagnitude));
    });
  }

  it('names the operator and node of an unsupported operator', async () => {
    await expect(
      checkGradient({ inputs: [{ name: 'x', dims: [2, 3] }], build: (b, _t, [x]) => b.op('Cos', [x], {}, { name: 'my_cosine' }) }),
    ).rejects.toThrow(/Unsupported operator for gradients: Cos \(node 'my_cosine'\)/);
    expect(new GradientError('x')).toBeInstanceOf(Error);
  });

  it('names the operator and node of a Slice with computed starts', async () => {
    await expect(
      checkGradient({
        inputs: [{ name: 'x', dims: [2, 6] }],
        build: (b, _t, [x]) => {
          const start = b.op('Sub', [b.op('Shape', [x], { start: 1 }), b.int64([4])]);
          return b.op('Slice', [x, start, b.int64([6]), b.int64([1]), b.int64([2])], {}, { name: 'my_slice' });
        },
      }),
    ).rejects.toThrow(/^Cannot differentiate Slice node 'my_slice': starts must be constant$/);
  });
});
