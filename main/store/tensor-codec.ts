// Byte encodings of tensor rows. A row is a run of values along the tensor's last axis; every encoding
// stores each row in the same number of bytes, so a reader can cut any rows out of a blob by offset.
//
//   float32  4 bytes per value, little-endian IEEE single: exact.
//   float16  2 bytes per value, IEEE half (shared/float16.ts, round to nearest even):
//            |error| ≤ max(|v|·2^-11, 2^-25) for |v| < 65520 (float16ErrorBound).
//   q8       per row: min (float32), scale (float32), then one byte q per value; value = min + q·scale,
//            scale = (rowMax − rowMin)/255: |error| ≤ (rowMax − rowMin)/510 plus float32 rounding
//            (q8ErrorBound). Suits values of one row with a similar range, e.g. attention probabilities.
//
// Values that an encoding cannot hold (float16: finite |v| ≥ 65520; q8: NaN or ±Infinity) make the
// writer keep the tensor as float32 and say so (chooseEncoding) rather than lose them silently.
import { encodeFloat16, fromHalfBits } from '../../shared/float16';
import {
  FLOAT16_LIMIT,
  FLOAT16_RELATIVE_ERROR,
  FLOAT16_SUBNORMAL_ERROR,
  q8ErrorBound,
  type TensorEncoding,
} from '../../shared/tensor';

export type { NamedTensor, TensorEncoding, TensorInfo } from '../../shared/tensor';
export { TENSOR_ENCODINGS, encodingNote, float16ErrorBound, q8ErrorBound } from '../../shared/tensor';

// Typed-array views read and write the host's byte order; every platform Node and Electron ship on is
// little-endian, which is what the stored blobs use.
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!littleEndian) throw new Error('the run store needs a little-endian host');

/** Bytes the q8 encoding spends on each row before its values: min and scale as float32. */
const Q8_HEADER_BYTES = 8;

/** Bytes one row of `rowLength` values takes in `encoding`. */
export function rowByteLength(encoding: TensorEncoding, rowLength: number): number {
  if (rowLength === 0) return 0;
  if (encoding === 'float32') return 4 * rowLength;
  if (encoding === 'float16') return 2 * rowLength;
  return Q8_HEADER_BYTES + rowLength;
}

/** The encoding a tensor is kept in: the requested one unless its values do not fit (then float32). */
export function chooseEncoding(
  requested: TensorEncoding,
  values: Float32Array,
): { encoding: TensorEncoding; note?: string } {
  if (requested === 'float16') {
    for (let i = 0; i < values.length; i++) {
      const magnitude = Math.abs(values[i]);
      if (magnitude >= FLOAT16_LIMIT && magnitude !== Number.POSITIVE_INFINITY) {
        return { encoding: 'float32', note: `kept as float32: value ${values[i]} is outside float16's range` };
      }
    }
  } else if (requested === 'q8') {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        return { encoding: 'float32', note: `kept as float32: q8 cannot hold ${values[i]}` };
      }
    }
  }
  return { encoding: requested };
}

/** Encoded rows with the error bound over all of them. */
export interface EncodedRows {
  bytes: Uint8Array;
  /** Largest absolute error of any decoded value. */
  maxAbsError: number;
  /** Relative bound for float16 values in the normal range. */
  maxRelError?: number;
}

/**
 * Encodes `values` (a whole number of rows of `rowLength`) in `encoding`. The caller has checked with
 * chooseEncoding that the values fit.
 */
export function encodeRows(encoding: TensorEncoding, values: Float32Array, rowLength: number): EncodedRows {
  if (encoding === 'float32') {
    const copy = new Float32Array(values);
    return { bytes: new Uint8Array(copy.buffer), maxAbsError: 0 };
  }
  if (encoding === 'float16') {
    const bits = encodeFloat16(values);
    let largest = 0;
    for (let i = 0; i < values.length; i++) {
      const magnitude = Math.abs(values[i]);
      if (magnitude > largest && magnitude !== Number.POSITIVE_INFINITY) largest = magnitude;
    }
    return {
      bytes: new Uint8Array(bits.buffer),
      maxAbsError: Math.max(largest * FLOAT16_RELATIVE_ERROR, FLOAT16_SUBNORMAL_ERROR),
      maxRelError: FLOAT16_RELATIVE_ERROR,
    };
  }
  return encodeQ8Rows(values, rowLength);
}

function encodeQ8Rows(values: Float32Array, rowLength: number): EncodedRows {
  const rowCount = rowLength === 0 ? 0 : values.length / rowLength;
  const stride = rowByteLength('q8', rowLength);
  const bytes = new Uint8Array(rowCount * stride);
  const view = new DataView(bytes.buffer);
  let maxAbsError = 0;
  for (let row = 0; row < rowCount; row++) {
    const start = row * rowLength;
    let min = values[start];
    let max = values[start];
    for (let i = 1; i < rowLength; i++) {
      const value = values[start + i];
      if (value < min) min = value;
      if (value > max) max = value;
    }
    // The float32 scale is what the reader multiplies by, so quantise with exactly that number. A range
    // so small that range/255 underflows float32 gets the smallest subnormal instead of 0.
    let scale = Math.fround((max - min) / 255);
    if (scale === 0 && max > min) scale = 2 ** -149;
    const offset = row * stride;
    view.setFloat32(offset, min, true);
    view.setFloat32(offset + 4, scale, true);
    const first = offset + Q8_HEADER_BYTES;
    if (scale > 0) {
      for (let i = 0; i < rowLength; i++) {
        const q = Math.round((values[start + i] - min) / scale);
        bytes[first + i] = q < 0 ? 0 : q > 255 ? 255 : q;
      }
    }
    maxAbsError = Math.max(maxAbsError, q8ErrorBound(min, max));
  }
  return { bytes, maxAbsError };
}

/** Float32 value of every float16 bit pattern, built once on first use (256 KiB). */
let halfTable: Float32Array | undefined;
function float16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) halfTable[bits] = fromHalfBits(bits);
  }
  return halfTable;
}

/**
 * Decodes whole rows from `bytes` into `out` starting at `outOffset`. `bytes.length` must be a multiple of
 * the row's byte length.
 */
export function decodeRows(
  encoding: TensorEncoding,
  bytes: Uint8Array,
  rowLength: number,
  out: Float32Array,
  outOffset = 0,
): void {
  if (rowLength === 0 || bytes.length === 0) return;
  if (encoding === 'float32') {
    out.set(alignedView(bytes, Float32Array), outOffset);
    return;
  }
  if (encoding === 'float16') {
    const bits = alignedView(bytes, Uint16Array);
    const table = float16Table();
    for (let i = 0; i < bits.length; i++) out[outOffset + i] = table[bits[i]];
    return;
  }
  const stride = rowByteLength('q8', rowLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rowCount = bytes.length / stride;
  for (let row = 0; row < rowCount; row++) {
    const offset = row * stride;
    const min = view.getFloat32(offset, true);
    const scale = view.getFloat32(offset + 4, true);
    const first = offset + Q8_HEADER_BYTES;
    const target = outOffset + row * rowLength;
    for (let i = 0; i < rowLength; i++) out[target + i] = min + bytes[first + i] * scale;
  }
}

/** A typed-array view of `bytes`, copied first when its offset is not aligned to the element size. */
function alignedView<T extends Float32Array | Uint16Array>(
  bytes: Uint8Array,
  type: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
): T {
  const size = type.BYTES_PER_ELEMENT;
  const source = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
  return new type(source.buffer, source.byteOffset, source.byteLength / size);
}
