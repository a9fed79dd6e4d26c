// The attention form of the softmax rule (rules/softmax.ts): when P = softmax(S) feeds only O = P·V, the row sums
// Σ g ⊙ P come from dO · O. Checked against finite differences, with the shortcut shown to be taken.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType } from '../../../main/engine/onnx/proto';
import { differentiate } from '../../../main/engine/gradients/differentiate';
import { checkGradient } from './finite-difference';

const attention = (b: GraphBuilder, _type: number, [q, k, v]: string[]) => {
  const scores = b.op('MatMul', [q, b.op('Transpose', [k], { perm: [0, 1, 3, 2] })]);
  const probabilities = b.op('Softmax', [scores], { axis: -1 });
  return b.op('MatMul', [probabilities, v]);
};
const INPUTS = [
  { name: 'q', dims: [1, 2, 5, 3] },
  { name: 'k', dims: [1, 2, 5, 3] },
  { name: 'v', dims: [1, 2, 5, 4] },
];

describe('softmax feeding an attention product', () => {
  it('matches finite differences (three seed rows)', async () => {
    const { maxError, maxMagnitude } = await checkGradient({ inputs: INPUTS, build: attention, targets: 3 });
    expect(maxMagnitude).toBeGreaterThan(1e-2);
    expect(maxError).toBeLessThan(1e-7);
  });

  it('matches finite differences with a head size above the augmented-MatMul limit', async () => {
    const inputs = [
      { name: 'q', dims: [1, 1, 4, 40] },
      { name: 'k', dims: [1, 1, 4, 40] },
      { name: 'v', dims: [1, 1, 4, 40] },
    ];
    const { maxError, maxMagnitude } = await checkGradient({ inputs, build: attention, targets: 2 });
    expect(maxMagnitude).toBeGreaterThan(1e-2);
    expect(maxError).toBeLessThan(1e-7);
  });

  it('sums over the head dimension and subtracts inside one MatMul', () => {
    const b = new GraphBuilder('attention', '');
    const inputs = INPUTS.map((i) => b.input(i.name, DataType.DOUBLE, i.dims));
    const output = attention(b, DataType.DOUBLE, inputs);
    b.input('seed', DataType.DOUBLE, [2, 1, 2, 5, 4]);
    b.output(output);
    const model = b.build();
    const shapes = new Map<string, number[]>(INPUTS.map((i) => [i.name, i.dims]));
    for (const node of model.graph!.node) {
      const shape = node.opType === 'Softmax' || (node.opType === 'MatMul' && node.input[1] !== 'v') ? [1, 2, 5, 5] : node.opType === 'Transpose' ? [1, 2, 3, 5] : [1, 2, 5, 4];
      shapes.set(node.output[0], shape);
    }
    const derivative = differentiate(model, { wrt: ['q', 'k', 'v'], seeds: [{ tensor: output, cotangent: 'seed' }], shapes }).model;
    const reduceInputs = derivative.graph!.node.filter((n) => n.opType === 'ReduceSum').map((n) => n.input[0]);
    const producers = new Map(derivative.graph!.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
    // The row sum multiplies the output's cotangent by the output O itself.
    expect(reduceInputs.some((name) => producers.get(name)?.opType === 'Mul' && producers.get(name)!.input.includes(output))).toBe(true);
    // g − D comes from one MatMul of augmented operands: no subtraction pass over the [T, T] scores remains.
    expect(derivative.graph!.node.some((n) => n.opType === 'Sub')).toBe(false);
    expect(derivative.graph!.node.filter((n) => n.opType === 'Concat').length).toBe(2);
  });
});
