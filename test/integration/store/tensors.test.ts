// Tensors in a real SQLite file: each encoding round trips within its stated bound, and partial reads
// (one head, one answer row of every head) equal the same part of the full decode.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { NamedTensor, TensorEncoding } from '../../../main/store';
import { float16ErrorBound } from '../../../shared/tensor';
import { pseudoRandom, sampleRun, tempStore, type TempStore } from './helpers';

const temps: TempStore[] = [];
afterEach(() => {
  for (const temp of temps.splice(0)) temp.dispose();
});

function storeWith(tensors: NamedTensor[], maxChunkBytes?: number): { temp: TempStore; id: string } {
  const temp = tempStore({ maxChunkBytes });
  temps.push(temp);
  const id = temp.store.createRun(sampleRun());
  temp.store.completeRun(id, { tensors });
  return { temp, id };
}

/** Attention-like rows: softmax of random logits, so each row sums to 1. */
function attentionValues(shape: number[], seed: number): Float32Array {
  const cols = shape[shape.length - 1];
  const data = pseudoRandom(shape.reduce((a, b) => a * b), seed);
  for (let start = 0; start < data.length; start += cols) {
    let sum = 0;
    for (let i = 0; i < cols; i++) sum += (data[start + i] = Math.exp(4 * data[start + i]));
    for (let i = 0; i < cols; i++) data[start + i] /= sum;
  }
  return data;
}

/** The reference slice of a row-major array at fixed leading indices. */
function referenceSlice(data: Float32Array, shape: number[], leading: number[]): Float32Array {
  let offset = 0;
  leading.forEach((index, axis) => (offset = offset * shape[axis] + index));
  const size = shape.slice(leading.length).reduce((a, b) => a * b, 1);
  return data.slice(offset * size, (offset + 1) * size);
}

/** The reference of fixing one axis, computed by walking every element. */
function referenceAlong(data: Float32Array, shape: number[], axis: number, index: number): Float32Array {
  const out: number[] = [];
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let flat = 0; flat < data.length; flat++) {
    if (Math.floor(flat / strides[axis]) % shape[axis] === index) out.push(data[flat]);
  }
  return new Float32Array(out);
}

const shape = [3, 4, 5, 17]; // [layer, head, row, col]
const axes = ['layer', 'head', 'row', 'col'];

describe.each<TensorEncoding>(['float32', 'float16', 'q8'])('%s tensors', (encoding) => {
  const original = attentionValues(shape, encoding.length);
  const tensor: NamedTensor = { name: 'attention.answer', axes, shape, data: original, encoding };

  it('round trip within the reported bound', () => {
    const { temp, id } = storeWith([tensor]);
    const read = temp.store.readTensor(id, 'attention.answer')!;
    expect(read).toMatchObject({ name: 'attention.answer', axes, shape, encoding });
    const [info] = temp.store.tensorInfo(id);
    expect(info).toMatchObject({ name: 'attention.answer', axes, shape, encoding });
    let worst = 0;
    for (let i = 0; i < original.length; i++) {
      const error = Math.abs(read.data[i] - original[i]);
      worst = Math.max(worst, error);
      if (encoding === 'float16') expect(error).toBeLessThanOrEqual(float16ErrorBound(original[i]));
    }
    expect(worst).toBeLessThanOrEqual(info.maxAbsError);
    if (encoding === 'float32') expect(read.data).toEqual(original);
    if (encoding === 'q8') expect(info.maxAbsError).toBeLessThan(1 / 510 + 1e-6); // rows lie in [0, 1]
    if (encoding === 'float16') expect(info.maxRelError).toBe(2 ** -11);
    const bytesPerValue = { float32: 4, float16: 2, q8: 1 }[encoding];
    expect(info.bytes).toBe(original.length * bytesPerValue + (encoding === 'q8' ? 8 * 3 * 4 * 5 : 0));
  });

  it('reads every head, every row and every (layer) block equal to the full decode', () => {
    for (const maxChunkBytes of [undefined, 3 * 17 * 4 + 5]) {
      const { temp, id } = storeWith([tensor], maxChunkBytes);
      const full = temp.store.readTensor(id, 'attention.answer')!;
      for (let layer = 0; layer < 3; layer++) {
        const block = temp.store.readTensorSlice(id, 'attention.answer', [layer])!;
        expect(block.shape).toEqual([4, 5, 17]);
        expect(block.data).toEqual(referenceSlice(full.data, shape, [layer]));
        for (let head = 0; head < 4; head++) {
          const one = temp.store.readTensorSlice(id, 'attention.answer', [layer, head])!;
          expect(one).toMatchObject({ axes: ['row', 'col'], shape: [5, 17], encoding });
          expect(one.data).toEqual(referenceSlice(full.data, shape, [layer, head]));
          for (let row = 0; row < 5; row++) {
            expect(temp.store.readTensorSlice(id, 'attention.answer', [layer, head, row])!.data)
              .toEqual(referenceSlice(full.data, shape, [layer, head, row]));
          }
        }
      }
      expect(temp.store.readTensorSlice(id, 'attention.answer', [])!.data).toEqual(full.data);
      for (let axis = 0; axis < 4; axis++) {
        for (let index = 0; index < shape[axis]; index += 2) {
          const along = temp.store.readTensorAlong(id, 'attention.answer', axes[axis], index)!;
          expect(along.axes).toEqual(axes.filter((_, i) => i !== axis));
          expect(along.shape).toEqual(shape.filter((_, i) => i !== axis));
          expect(along.data).toEqual(referenceAlong(full.data, shape, axis, index));
        }
      }
    }
  });
});

describe('tensor storage layout', () => {
  it('keeps one head per BLOB, so a head or an answer row is cut out without reading the others', () => {
    const data = attentionValues(shape, 1);
    const { temp, id } = storeWith([{ name: 'attention.answer', axes, shape, data, encoding: 'float16' }]);
    const raw = new Database(temp.path, { readonly: true });
    const chunks = raw.prepare('SELECT chunk_index, length(data) AS bytes FROM tensor_chunks WHERE run_id = ? ORDER BY chunk_index').all(id);
    raw.close();
    expect(chunks).toHaveLength(12);
    expect(chunks.every((chunk) => (chunk as { bytes: number }).bytes === 5 * 17 * 2)).toBe(true);
  });

  it('splits a head larger than the chunk limit and still reads rows across chunk borders', () => {
    const big = [2, 2, 50, 33];
    const data = attentionValues(big, 9);
    const { temp, id } = storeWith([{ name: 'a', axes, shape: big, data, encoding: 'q8' }], 7 * (8 + 33));
    const raw = new Database(temp.path, { readonly: true });
    expect(raw.prepare('SELECT chunk_rows, chunk_count FROM tensors').get()).toEqual({ chunk_rows: 7, chunk_count: 4 * 8 });
    raw.close();
    const full = temp.store.readTensor(id, 'a')!;
    expect(temp.store.readTensorSlice(id, 'a', [1, 0])!.data).toEqual(referenceSlice(full.data, big, [1, 0]));
    expect(temp.store.readTensorAlong(id, 'a', 'row', 48)!.data).toEqual(referenceAlong(full.data, big, 2, 48));
  });

  it('stores matrices, vectors, scalars and empty tensors', () => {
    const matrix = pseudoRandom(6 * 9, 4).map((v) => v * 20 - 10);
    const vector = pseudoRandom(11, 8);
    const { temp, id } = storeWith([
      { name: 'gradient.saliency', axes: ['row', 'col'], shape: [6, 9], data: matrix, encoding: 'float32' },
      { name: 'ig.attributions', axes: ['col'], shape: [11], data: vector, encoding: 'float16' },
      { name: 'ig.delta', axes: [], shape: [], data: new Float32Array([0.125]), encoding: 'q8' },
      { name: 'empty', axes: ['row', 'col'], shape: [0, 9], data: new Float32Array(0), encoding: 'q8' },
    ]);
    const { store } = temp;
    expect(store.readTensor(id, 'gradient.saliency')!.data).toEqual(matrix);
    expect(store.readTensorSlice(id, 'gradient.saliency', [4])!.data).toEqual(matrix.slice(36, 45));
    expect(store.readTensorAlong(id, 'gradient.saliency', 'col', 2)!.data).toEqual(new Float32Array([0, 1, 2, 3, 4, 5].map((r) => matrix[r * 9 + 2])));
    expect(store.readTensor(id, 'ig.attributions')!.shape).toEqual([11]);
    expect(store.readTensor(id, 'ig.delta')).toMatchObject({ shape: [], data: new Float32Array([0.125]) });
    expect(store.readTensor(id, 'empty')).toMatchObject({ shape: [0, 9], data: new Float32Array(0) });
    expect(store.tensorInfo(id).map((info) => info.name)).toEqual(['empty', 'gradient.saliency', 'ig.attributions', 'ig.delta']);
    expect(() => store.readTensorSlice(id, 'gradient.saliency', [6])).toThrow(/out of range/);
    expect(() => store.readTensorSlice(id, 'gradient.saliency', [1, 2])).toThrow(/at most 1/);
    expect(() => store.readTensorAlong(id, 'gradient.saliency', 'layer', 0)).toThrow(/no axis layer/);
    expect(store.readTensorSlice(id, 'nothing', [])).toBeUndefined();
  });

  it('keeps values outside an encoding as float32, says so, and replaces tensors by name', () => {
    const data = new Float32Array([1, -2, 1e6, 3]);
    const { temp, id } = storeWith([{ name: 'gradient.raw', axes: ['row', 'col'], shape: [2, 2], data, encoding: 'float16' }]);
    expect(temp.store.tensorInfo(id)[0]).toMatchObject({ encoding: 'float32', requestedEncoding: 'float16', maxAbsError: 0, note: expect.stringContaining('float16') });
    expect(temp.store.readTensor(id, 'gradient.raw')!.data).toEqual(data);
    temp.store.putTensors(id, [{ name: 'gradient.raw', axes: ['row', 'col'], shape: [1, 2], data: new Float32Array([5, 6]), encoding: 'float16' }]);
    expect(temp.store.readTensor(id, 'gradient.raw')).toMatchObject({ shape: [1, 2], data: new Float32Array([5, 6]), encoding: 'float16' });
  });
});
