// Row encodings of the run store against their documented error bounds, and the chunk layout arithmetic.
import { describe, expect, it } from 'vitest';
import { chooseEncoding, decodeRows, encodeRows, rowByteLength } from '../../../main/store/tensor-codec';
import { axisRows, chunkSpan, leadingRows, piecesOf, planLayout } from '../../../main/store/tensor-layout';
import { encodingNote, float16ErrorBound, FLOAT16_RELATIVE_ERROR, q8ErrorBound } from '../../../shared/tensor';

/** Deterministic pseudo-random values (xorshift), spread over several magnitudes. */
function values(count: number, seed = 1, spread = 1): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (((state >>> 0) / 2 ** 32) * 2 - 1) * spread;
  }
  return out;
}

function roundTrip(encoding: 'float32' | 'float16' | 'q8', data: Float32Array, rowLength: number): Float32Array {
  const encoded = encodeRows(encoding, data, rowLength);
  expect(encoded.bytes.length).toBe((data.length / rowLength) * rowByteLength(encoding, rowLength));
  const out = new Float32Array(data.length);
  decodeRows(encoding, encoded.bytes, rowLength, out);
  return out;
}

describe('tensor codecs', () => {
  it('float32 is exact', () => {
    const data = values(1000, 7, 1e6);
    expect(roundTrip('float32', data, 10)).toEqual(data);
  });

  it('float16 keeps relative error ≤ 2^-11 on normal values and abs error ≤ 2^-25 below them', () => {
    const data = new Float32Array([...values(4000, 3, 1), ...values(1000, 5, 60000), ...values(1000, 9, 1e-5), 0, -0, 65504, 2 ** -14]);
    const out = roundTrip('float16', data, 2);
    for (let i = 0; i < data.length; i++) {
      const error = Math.abs(out[i] - data[i]);
      expect(error).toBeLessThanOrEqual(float16ErrorBound(data[i]));
      if (Math.abs(data[i]) >= 2 ** -14) expect(error / Math.abs(data[i])).toBeLessThanOrEqual(FLOAT16_RELATIVE_ERROR);
    }
    // The bound is tight: 1 + 2^-11 lies halfway between two float16 values and rounds to even (1).
    const tie = roundTrip('float16', new Float32Array([1 + 2 ** -11, 0]), 2);
    expect(tie[0]).toBe(1);
    expect(encodeRows('float16', data, 2).maxRelError).toBe(2 ** -11);
  });

  it('q8 keeps every value of a row within q8ErrorBound(rowMin, rowMax)', () => {
    const rowLength = 37;
    const rows = 200;
    const data = values(rowLength * rows, 11, 3);
    // Rows with their own offset and scale, a constant row and a row of probabilities.
    for (let r = 0; r < rows; r++) for (let i = 0; i < rowLength; i++) data[r * rowLength + i] = data[r * rowLength + i] * (r + 1) + r * 10;
    data.fill(4.25, 0, rowLength);
    const out = roundTrip('q8', data, rowLength);
    let largestBound = 0;
    for (let r = 0; r < rows; r++) {
      const row = data.subarray(r * rowLength, (r + 1) * rowLength);
      const min = Math.min(...row);
      const max = Math.max(...row);
      const bound = q8ErrorBound(min, max);
      largestBound = Math.max(largestBound, bound);
      expect(bound).toBeLessThan(((max - min) / 510) * 1.001 + Math.max(Math.abs(min), Math.abs(max)) * 1e-6);
      for (let i = 0; i < rowLength; i++) expect(Math.abs(out[r * rowLength + i] - row[i])).toBeLessThanOrEqual(bound);
      // The extremes are kept almost exactly: min is stored, max = min + 255·scale.
      expect(Math.abs(Math.min(...out.subarray(r * rowLength, (r + 1) * rowLength)) - min)).toBe(0);
    }
    expect(out.subarray(0, rowLength).every((v) => v === 4.25)).toBe(true);
    expect(encodeRows('q8', data, rowLength).maxAbsError).toBe(largestBound);
  });

  it('q8 error reaches close to half a step, so the bound is not loose', () => {
    // Values spread evenly between steps: the worst one sits near a half step.
    const rowLength = 2001;
    const data = new Float32Array(rowLength).map((_, i) => i / (rowLength - 1));
    const out = roundTrip('q8', data, rowLength);
    const worst = Math.max(...data.map((v, i) => Math.abs(out[i] - v)));
    expect(worst).toBeGreaterThan((1 / 510) * 0.99);
    expect(worst).toBeLessThanOrEqual(q8ErrorBound(0, 1));
  });

  it('keeps values an encoding cannot hold as float32 and says why', () => {
    expect(chooseEncoding('float16', new Float32Array([1, 70000])).encoding).toBe('float32');
    expect(chooseEncoding('float16', new Float32Array([1, Infinity, NaN])).encoding).toBe('float16');
    expect(chooseEncoding('q8', new Float32Array([1, NaN]))).toMatchObject({ encoding: 'float32', note: expect.stringContaining('NaN') });
    expect(chooseEncoding('q8', new Float32Array([1, 2])).encoding).toBe('q8');
  });

  it('decodes rows from an unaligned byte offset', () => {
    const data = values(12, 2);
    for (const encoding of ['float32', 'float16', 'q8'] as const) {
      const { bytes } = encodeRows(encoding, data, 4);
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      const a = new Float32Array(12);
      const b = new Float32Array(12);
      decodeRows(encoding, bytes, 4, a);
      decodeRows(encoding, shifted.subarray(1), 4, b);
      expect(b).toEqual(a);
    }
  });
});

describe('tensor layout', () => {
  it('puts one matrix (one attention head) in each chunk when it fits', () => {
    const layout = planLayout([2, 3, 4, 5], 10);
    expect(layout).toMatchObject({ rowLength: 5, rowCount: 24, chunkRows: 4, chunkCount: 6 });
    expect(planLayout([7, 9], 100)).toMatchObject({ rowCount: 7, chunkRows: 7, chunkCount: 1 });
    expect(planLayout([9], 4)).toMatchObject({ rowLength: 9, rowCount: 1, chunkCount: 1 });
    expect(planLayout([], 4)).toMatchObject({ rowLength: 1, rowCount: 1, chunkCount: 1 });
    expect(planLayout([3, 0, 4], 8).chunkCount).toBe(0);
  });

  it('splits a matrix larger than the chunk limit into chunks of whole rows', () => {
    const layout = planLayout([2, 10, 8], 16, 48); // 3 rows of 16 bytes per chunk
    // Each matrix of 10 rows in chunks of 3, 3, 3 and 1 rows: no chunk holds rows of two matrices.
    expect(layout).toMatchObject({ chunkRows: 3, chunksPerMatrix: 4, chunkCount: 8 });
    expect(chunkSpan(layout, 3)).toEqual({ firstRow: 9, rowCount: 1 });
    expect(chunkSpan(layout, 4)).toEqual({ firstRow: 10, rowCount: 3 });
    const pieces = piecesOf(layout, [leadingRows(layout, [1])]);
    expect(pieces).toEqual([
      { chunkIndex: 4, firstRow: 0, rowCount: 3, outputRow: 0 },
      { chunkIndex: 5, firstRow: 0, rowCount: 3, outputRow: 3 },
      { chunkIndex: 6, firstRow: 0, rowCount: 3, outputRow: 6 },
      { chunkIndex: 7, firstRow: 0, rowCount: 1, outputRow: 9 },
    ]);
    // Rows 8..11 cross from matrix 0 (chunks 2 and 3) into matrix 1 (chunk 4).
    expect(piecesOf(layout, [{ firstRow: 8, rowCount: 4 }])).toEqual([
      { chunkIndex: 2, firstRow: 2, rowCount: 1, outputRow: 0 },
      { chunkIndex: 3, firstRow: 0, rowCount: 1, outputRow: 1 },
      { chunkIndex: 4, firstRow: 0, rowCount: 2, outputRow: 2 },
    ]);
  });

  it('selects rows by leading indices and by one axis', () => {
    const layout = planLayout([2, 3, 4, 5], 10);
    expect(leadingRows(layout, [1, 2])).toEqual({ firstRow: 20, rowCount: 4 });
    expect(leadingRows(layout, [1, 2, 3])).toEqual({ firstRow: 23, rowCount: 1 });
    expect(leadingRows(layout, [])).toEqual({ firstRow: 0, rowCount: 24 });
    expect(() => leadingRows(layout, [1, 2, 3, 4])).toThrow(/at most 3/);
    expect(() => leadingRows(layout, [2])).toThrow(/out of range/);
    expect(axisRows(layout, 2, 3)).toHaveLength(6);
    expect(axisRows(layout, 1, 2)).toEqual([{ firstRow: 8, rowCount: 4 }, { firstRow: 20, rowCount: 4 }]);
    expect(() => axisRows(layout, 3, 0)).toThrow(/not a leading axis/);
  });
});

describe('encoding notes', () => {
  it('states the encoding and its bounds as the run JSON field', () => {
    expect(encodingNote({ encoding: 'q8', maxAbsError: 0.002 })).toEqual({ dtype: 'q8', maxAbsError: 0.002 });
    expect(encodingNote({ encoding: 'float16', maxAbsError: 2 ** -12, maxRelError: 2 ** -11 }))
      .toEqual({ dtype: 'float16', maxAbsError: 2 ** -12, maxRelError: 2 ** -11 });
  });
});
