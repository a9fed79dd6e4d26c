import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { GraphIndex } from '../../../main/engine/onnx/graph-index';
import { DataType, decodeModel, encodeModel, makeNode, makeTensor } from '../../../main/engine/onnx/proto';

function sample() {
  const g = new GraphBuilder();
  const x = g.input('x', DataType.FLOAT, [1, 'n', 4]);
  const w = g.initializer('w', Float32Array.from({ length: 16 }, (_, i) => i), [4, 4]);
  const projected = g.op('MatMul', [x, w], {}, { name: 'project', outputNames: ['p'] });
  const reshaped = g.op('Reshape', [projected, g.int64([1, -1, 2, 2])], {}, { outputNames: ['r'] });
  const transposed = g.op('Transpose', [reshaped], { perm: [0, 2, 1, 3] }, { outputNames: ['t'] });
  g.nodes.push(makeNode('Constant', [], ['c'], 'const', { value: makeTensor('c', BigInt64Array.from([5n, 6n]), [2]) }));
  g.op('Add', [transposed, transposed], {}, { outputNames: ['y'] });
  g.output('y', DataType.FLOAT);
  return g.build();
}

describe('GraphIndex', () => {
  it('answers producer, consumer and constant questions', () => {
    const model = sample();
    const index = new GraphIndex(model.graph!);
    expect(index.producer('p')!.node.name).toBe('project');
    expect(index.producer('x')).toBeUndefined();
    expect(index.consumers('t').map((c) => c.input)).toEqual([0, 1]);
    expect(index.isConstant('w')).toBe(true);
    expect(index.isConstant('x')).toBe(false);
    expect(Array.from(index.constantArray('w') as Float32Array).slice(0, 3)).toEqual([0, 1, 2]);
    expect(index.constantNumbers('c')).toEqual([5, 6]);
    expect(index.constantDims('w')).toEqual([4, 4]);
    expect(index.declaredDims('x')).toEqual([1, 'n', 4]);
    expect(index.followUp('t')).toMatchObject({ tensor: 'p' });
    expect(index.followUp('t').path.map((n) => n.opType)).toEqual(['Transpose', 'Reshape']);
    expect(index.findUp('t', ['MatMul'])!.node.name).toBe('project');
  });

  it('orders nodes topologically even when the graph lists them out of order', () => {
    const model = sample();
    model.graph!.node.reverse();
    const order = new GraphIndex(model.graph!).topologicalOrder().map((n) => n.output[0]);
    for (const [before, after] of [['p', 'r'], ['r', 't'], ['t', 'y']]) expect(order.indexOf(before)).toBeLessThan(order.indexOf(after));
  });

  it('reads constants of a model decoded from a Node Buffer (views into a shared buffer)', () => {
    const bytes = Buffer.concat([Buffer.alloc(13), Buffer.from(encodeModel(sample()))]).subarray(13);
    const index = new GraphIndex(decodeModel(bytes).graph!);
    expect(Array.from(index.constantArray('w') as Float32Array)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });
});
