// GatherBlockQuantized as the token-embedding lookup: the table dequantized in JavaScript must equal what
// onnxruntime's own kernel gathers, row for row, and the split graph fed with those rows must reproduce the
// quantized model's output.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, encodeModel, type ModelProto } from '../../../main/engine/onnx/proto';
import { createSession, float32Tensor, int64Tensor, Tensor } from '../../../main/engine/runtime';
import { embed, splitEmbeddings } from '../../../main/engine/gradients/split-embeddings';
import { prepareForGradients } from '../../../main/engine/gradients/prepare';
import { GradientError } from '../../../main/engine/gradients/rules';
import { seededRandom } from '../../unit/gradients/finite-difference';
import { fromHalfBits, toHalfBits } from '../../../shared/float16';

interface Layout {
  name: string;
  dataType: number;
  bits: number;
  blockSize: number;
  quantizeAxis: number;
  zeroPoints: boolean;
  /** Logical [vocab, hidden]. */
  vocab: number;
  hidden: number;
  scaleType?: number;
}

/** Packs unsigned `bits`-bit values least significant first. */
function pack(values: number[], bits: number): Uint8Array {
  const perByte = 8 / bits;
  const out = new Uint8Array(Math.ceil(values.length / perByte));
  values.forEach((v, i) => (out[Math.floor(i / perByte)] |= (v & ((1 << bits) - 1)) << ((i % perByte) * bits)));
  return out;
}

/** A model: input_ids [1, seq] → GatherBlockQuantized → MatMul by a small float matrix → `mixed`. */
function quantizedModel(layout: Layout, seed: number): ModelProto {
  const random = seededRandom(seed);
  const { vocab, hidden, bits, blockSize, quantizeAxis } = layout;
  const b = new GraphBuilder();
  const ids = b.input('input_ids', DataType.INT64, [1, 'sequence']);
  const uint8 = layout.dataType === DataType.UINT8;
  const signed = layout.dataType === DataType.INT4;
  const levels = 1 << bits;
  const q = Array.from({ length: vocab * hidden }, () => Math.floor(random() * levels) - (signed ? levels / 2 : 0));
  const data = uint8
    ? b.initializer('embed.qweight', pack(q, bits), [vocab, (hidden * bits) / 8], DataType.UINT8)
    : b.initializer('embed.qweight', pack(q, 4), [vocab, hidden], layout.dataType);
  const scaleDims = quantizeAxis === 1 ? [vocab, Math.ceil(hidden / blockSize)] : [Math.ceil(vocab / blockSize), hidden];
  const scaleCount = scaleDims[0] * scaleDims[1];
  const scaleValues = Array.from({ length: scaleCount }, () => 0.01 + 0.05 * random());
  const scaleType = layout.scaleType ?? DataType.FLOAT;
  const scales =
    scaleType === DataType.FLOAT16
      ? b.initializer('embed.scales', Uint16Array.from(scaleValues, toHalfBits), scaleDims, DataType.FLOAT16)
      : b.initializer('embed.scales', Float32Array.from(scaleValues), scaleDims);
  const inputs = [data, ids, scales];
  if (layout.zeroPoints) {
    const zeros = Array.from({ length: scaleCount }, () => Math.floor(random() * levels) - (signed ? levels / 2 : 0));
    // uint8: each row of zero points packed on its own; int4/uint4: packed over the flat index.
    const zeroData = uint8
      ? Uint8Array.from(Array.from({ length: scaleDims[0] }, (_, r) => [...pack(zeros.slice(r * scaleDims[1], (r + 1) * scaleDims[1]), bits)]).flat())
      : pack(zeros, 4);
    const zeroDims = uint8 ? [scaleDims[0], Math.ceil((scaleDims[1] * bits) / 8)] : scaleDims;
    inputs.push(b.initializer('embed.zeros', zeroData, zeroDims, layout.dataType));
  }
  const gathered = b.op('GatherBlockQuantized', inputs, { bits, block_size: blockSize, gather_axis: 0, quantize_axis: quantizeAxis }, { domain: 'com.microsoft', name: 'embed_lookup' });
  const mix = Array.from({ length: hidden * 3 }, () => random() - 0.5);
  const weight = scaleType === DataType.FLOAT16 ? b.floatOf(DataType.FLOAT16, mix, [hidden, 3]) : b.float(mix, [hidden, 3]);
  b.output(b.op('MatMul', [gathered, weight], {}, { outputNames: ['mixed'] }));
  b.output(b.op('Identity', [gathered], {}, { outputNames: ['rows'] }));
  return b.build({ '': 17, 'com.microsoft': 1 });
}

const layouts: Layout[] = [
  { name: 'uint8 4-bit, no zero points', dataType: DataType.UINT8, bits: 4, blockSize: 16, quantizeAxis: 1, zeroPoints: false, vocab: 7, hidden: 32 },
  { name: 'uint8 4-bit with packed zero points, 3 blocks per row', dataType: DataType.UINT8, bits: 4, blockSize: 16, quantizeAxis: 1, zeroPoints: true, vocab: 6, hidden: 48 },
  { name: 'uint8 4-bit, block 32 over 64 columns, zero points', dataType: DataType.UINT8, bits: 4, blockSize: 32, quantizeAxis: 1, zeroPoints: true, vocab: 5, hidden: 64 },
  { name: 'uint8 8-bit with zero points', dataType: DataType.UINT8, bits: 8, blockSize: 16, quantizeAxis: 1, zeroPoints: true, vocab: 5, hidden: 32 },
  { name: 'uint8 8-bit, no zero points', dataType: DataType.UINT8, bits: 8, blockSize: 16, quantizeAxis: 1, zeroPoints: false, vocab: 5, hidden: 32 },
  { name: 'uint8 2-bit with zero points', dataType: DataType.UINT8, bits: 2, blockSize: 16, quantizeAxis: 1, zeroPoints: true, vocab: 5, hidden: 48 },
  { name: 'int4 with zero points', dataType: DataType.INT4, bits: 4, blockSize: 16, quantizeAxis: 1, zeroPoints: true, vocab: 5, hidden: 48 },
  { name: 'uint4 quantized along the vocabulary axis', dataType: DataType.UINT4, bits: 4, blockSize: 16, quantizeAxis: 0, zeroPoints: true, vocab: 35, hidden: 8 },
  { name: 'int4, no zero points', dataType: DataType.INT4, bits: 4, blockSize: 16, quantizeAxis: 1, zeroPoints: false, vocab: 5, hidden: 32 },
];

async function runModel(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await createSession(encodeModel(model), 'cpu');
  try {
    return (await session.run(feeds)) as Record<string, Tensor>;
  } finally {
    await session.release();
  }
}

describe('GatherBlockQuantized token embeddings', () => {
  layouts.forEach((layout, index) => {
    it(`${layout.name}: the dequantized table equals onnxruntime's lookup, and the split graph its output`, async () => {
      const model = quantizedModel(layout, 11 + index);
      const ids = Array.from({ length: layout.vocab }, (_, i) => layout.vocab - 1 - i);
      const original = await runModel(model, { input_ids: int64Tensor(ids, [1, ids.length]) });

      const split = splitEmbeddings(model);
      expect(split.vocabSize).toBe(layout.vocab);
      expect(split.hiddenSize).toBe(layout.hidden);
      expect(split.model.graph!.node.some((n) => n.opType === 'GatherBlockQuantized')).toBe(false);
      // Every row of the table, looked up by onnxruntime, bit for bit.
      const rows = embed(split.table, split.hiddenSize, ids);
      expect(Array.from(rows)).toEqual(Array.from(original.rows.data as Float32Array));
      // A nontrivial table: not all zeros, several distinct values.
      expect(new Set(rows).size).toBeGreaterThan(8);

      const splitRun = await runModel(split.model, { inputs_embeds: float32Tensor(rows, [1, ids.length, layout.hidden]) });
      expect(Array.from(splitRun.mixed.data as Float32Array)).toEqual(Array.from(original.mixed.data as Float32Array));
    });
  });

  it('float16 scales: the float32 preparation dequantizes to the float16 kernel within half precision', async () => {
    const layout: Layout = { name: 'f16', dataType: DataType.UINT8, bits: 4, blockSize: 16, quantizeAxis: 1, zeroPoints: true, vocab: 6, hidden: 32, scaleType: DataType.FLOAT16 };
    const model = quantizedModel(layout, 99);
    const ids = [5, 0, 3, 3, 1];
    const original = await runModel(model, { input_ids: int64Tensor(ids, [1, ids.length]) });
    const split = splitEmbeddings(prepareForGradients(model, DataType.FLOAT));
    const rows = embed(split.table, split.hiddenSize, ids);
    const reference = Array.from(original.rows.data as Uint16Array, fromHalfBits);
    let maxError = 0;
    reference.forEach((value, i) => (maxError = Math.max(maxError, Math.abs(value - rows[i]) / Math.max(1e-3, Math.abs(value)))));
    expect(maxError).toBeLessThan(1e-3);
  });

  it('names the node for a layout it cannot dequantize', () => {
    const b = new GraphBuilder();
    const ids = b.input('input_ids', DataType.INT64, [1, 'sequence']);
    const data = b.initializer('q', new Uint8Array(4 * 16), [4, 32], DataType.INT4);
    const scales = b.float(new Array(8).fill(0.1), [4, 2]);
    b.output(b.op('GatherBlockQuantized', [data, ids, scales], { bits: 4, block_size: 16, gather_axis: 1, quantize_axis: 1 }, { domain: 'com.microsoft', name: 'odd_lookup' }));
    const model = b.build({ '': 17, 'com.microsoft': 1 });
    expect(() => splitEmbeddings(model)).toThrow(GradientError);
    expect(() => splitEmbeddings(model)).toThrow(/^Embedding lookup GatherBlockQuantized node 'odd_lookup': gather_axis 1 \(only 0 is supported for a table lookup\)$/);
  });
});
