// SiLU written out as x·Sigmoid(x) gets one cotangent product (rules/elementwise.ts): checked against finite
// differences, with the sigmoid rule shown to be skipped; a sigmoid with another reader keeps the general rules.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType } from '../../../main/engine/onnx/proto';
import { differentiate } from '../../../main/engine/gradients/differentiate';
import { checkGradient } from './finite-difference';

describe('x·Sigmoid(x)', () => {
  for (const order of ['x first', 'sigmoid first'] as const) {
    it(`matches finite differences (${order})`, async () => {
      // float32: onnxruntime fuses x·σ(x) into QuickGelu, which has no float64 kernel.
      const { maxError, maxMagnitude } = await checkGradient({
        type: DataType.FLOAT,
        step: 1e-2,
        inputs: [{ name: 'x', dims: [2, 3, 5] }],
        targets: 2,
        build: (b, _t, [x]) => {
          const s = b.op('Sigmoid', [x]);
          return b.op('Mul', order === 'x first' ? [x, s] : [s, x]);
        },
      });
      expect(maxMagnitude).toBeGreaterThan(1e-2);
      expect(maxError).toBeLessThan(2e-4);
    });
  }

  it('matches finite differences when the sigmoid has another reader', async () => {
    const { maxError } = await checkGradient({
      inputs: [{ name: 'x', dims: [3, 4] }],
      targets: 2,
      build: (b, _t, [x]) => {
        const s = b.op('Sigmoid', [x]);
        return b.op('Add', [b.op('Mul', [x, s]), s]);
      },
    });
    expect(maxError).toBeLessThan(1e-8);
  });

  it('leaves no cotangent product for the sigmoid', () => {
    const b = new GraphBuilder('swish', '');
    const x = b.input('x', DataType.DOUBLE, [2, 3]);
    b.input('seed', DataType.DOUBLE, [1, 2, 3]);
    const y = b.op('Mul', [x, b.op('Sigmoid', [x])]);
    b.output(y);
    const model = b.build();
    const shapes = new Map<string, number[]>(model.graph!.node.map((n) => [n.output[0], [2, 3]]));
    shapes.set('x', [2, 3]);
    const derivative = differentiate(model, { wrt: ['x'], seeds: [{ tensor: y, cotangent: 'seed' }], shapes }).model;
    const added = derivative.graph!.node.slice(model.graph!.node.length);
    // One product with the seed, no Sum of two contributions.
    expect(added.filter((n) => n.input.includes('seed')).length).toBe(1);
    expect(added.some((n) => n.opType === 'Sum')).toBe(false);
  });
});
