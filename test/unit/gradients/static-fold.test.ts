// Shape arithmetic as torch.onnx writes it (Shape → Gather → Div → Unsqueeze → Slice bounds) becomes constants for
// one run shape, while integers computed from input values (CumSum of the attention mask) stay in the graph; and
// decoded nodes keep their unset proto2 fields (an empty domain) when the rewriters copy them by spreading.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { foldStatic, staticCandidates } from '../../../main/engine/gradients/static-fold';
import { probeShapesAndValues } from '../../../main/engine/gradients/shape-probe';
import { float32Tensor, int64Tensor } from '../../../main/engine/runtime';

function rotateHalfLike() {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, [1, 'T', 8]);
  const mask = b.input('attention_mask', DataType.INT64, [1, 'T']);
  const half = b.op('Div', [b.op('Gather', [b.op('Shape', [x]), b.int64(2, [])], { axis: 0 }), b.int64(2, [])]);
  const end = b.op('Unsqueeze', [half, b.int64([0], [1])]);
  const first = b.op('Slice', [x, b.int64([0], [1]), end, b.int64([2], [1])]);
  const positions = b.op('CumSum', [mask, b.int64(1, [])]);
  const shifted = b.op('Add', [b.op('Cast', [positions], { to: DataType.FLOAT }), b.op('ReduceSum', [first, b.int64([2], [1])], { keepdims: 0 })]);
  b.output(b.op('Identity', [shifted], {}, { outputNames: ['y'] }));
  return { model: b.build({ '': 17 }), end, positions };
}

describe('static folding', () => {
  it('folds shape-only slice bounds and keeps value-dependent integers', async () => {
    const { model, end, positions } = rotateHalfLike();
    const candidates = staticCandidates(model);
    expect(candidates).toEqual([end]);
    const feeds = { x: float32Tensor(new Float32Array(24).map((_, i) => i), [1, 3, 8]), attention_mask: int64Tensor([1, 1, 1], [1, 3]) };
    const probe = await probeShapesAndValues(model, feeds, ['y', ...candidates]);
    const shapes = new Map(probe.shapes);
    const folded = foldStatic(model, probe.values, shapes);
    const slice = folded.graph!.node.find((n) => n.opType === 'Slice')!;
    expect(slice.input[2]).toBe(`static::${end}`);
    expect(folded.graph!.initializer.find((t) => t.name === slice.input[2])?.dims.map(Number)).toEqual([1]);
    expect(shapes.get(slice.input[2])).toEqual([1]);
    // Shape, Gather, Div and Unsqueeze are gone; the mask's CumSum stays.
    expect(folded.graph!.node.some((n) => n.opType === 'Shape' || n.opType === 'Div')).toBe(false);
    expect(folded.graph!.node.some((n) => n.output.includes(positions))).toBe(true);
    const again = await probeShapesAndValues(folded, feeds, ['y']);
    expect(Array.from(again.values.get('y') as Float32Array)).toEqual(Array.from(probe.values.get('y') as Float32Array));
  });

  it('keeps an empty domain on nodes copied by spreading after decoding', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Neg', [x], {}, { outputNames: ['y'] }));
    const model = b.build();
    // As torch.onnx writes it: no domain field at all.
    delete (model.graph!.node[0] as { domain?: string }).domain;
    const decoded = decodeModel(encodeModel(model));
    const copy = { ...decoded.graph!.node[0] };
    expect(copy.domain).toBe('');
    expect(copy.opType).toBe('Neg');
  });
});
