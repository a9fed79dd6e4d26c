// Dequantizes the whole data tensor of a com.microsoft GatherBlockQuantized lookup, as onnxruntime's kernel
// computes each gathered row, so that the token-embedding table can be split off as a plain float table (see
// ../split-embeddings.ts). Not a gradient rule: it lives here beside the rules because it serves the same
// preparation step.
//
// Layout (onnxruntime contrib op GatherBlockQuantized, CPU kernel):
// - uint8 data holds `bits` (2, 4 or 8) bit values packed least significant first along the last axis, so the
//   logical last dimension is the stored one × 8/bits; gather_axis must be 0 and quantize_axis the last axis.
//   Zero points are uint8 packed the same way per row of scales; without them the zero is 2^(bits−1).
// - int4/uint4 data holds two values per byte over the flat logical index, low nibble first; zero points are
//   the same type, packed over the flat scale index; without them the zero is 0. Either axis may be quantized.
// - Scales have the data's logical shape with the quantized axis divided into ⌈dim / block_size⌉ blocks.
// - value = (q − zero) · scale, computed in float32 by the kernel: exact in float64 then rounded once here.
import { DataType } from '../../onnx/proto';

/** A layout the dequantizer does not cover, or inconsistent shapes (message without the node's name). */
export class QuantizedTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizedTableError';
  }
}

export interface BlockQuantizedTable {
  /** Packed data as bytes (uint8 storage, or the raw bytes of an int4/uint4 tensor). */
  data: Uint8Array;
  /** ONNX element type of the data tensor: UINT8, INT4 or UINT4. */
  dataType: number;
  /** Stored dims of the data tensor (for uint8, the last one counts bytes). */
  dims: number[];
  scales: ArrayLike<number>;
  scaleDims: number[];
  zeroPoints?: Uint8Array;
  zeroPointType?: number;
  bits: number;
  blockSize: number;
  gatherAxis: number;
  quantizeAxis: number;
}

/** Value `index` of a least-significant-first stream of `bits`-bit unsigned values. */
function unsignedAt(bytes: Uint8Array, index: number, bits: number): number {
  const perByte = 8 / bits;
  const shift = (index % perByte) * bits;
  return (bytes[Math.floor(index / perByte)] >> shift) & ((1 << bits) - 1);
}

/** Nibble `index` of packed int4 (sign-extended) or uint4 data. */
function nibbleAt(bytes: Uint8Array, index: number, signed: boolean): number {
  const value = unsignedAt(bytes, index, 4);
  return signed && value >= 8 ? value - 16 : value;
}

/**
 * The dequantized [rows, columns] table, row-major float32 values, for a 2-D lookup table gathered along axis 0
 * (the token-embedding layout). Throws QuantizedTableError for any other layout.
 */
export function dequantizeBlockTable(table: BlockQuantizedTable): { values: Float32Array; rows: number; columns: number } {
  const { data, dataType, dims, scales, scaleDims, zeroPoints, bits, blockSize } = table;
  if (dims.length !== 2) throw new QuantizedTableError(`data of rank ${dims.length} (only a 2-D table is supported)`);
  const gatherAxis = table.gatherAxis < 0 ? table.gatherAxis + 2 : table.gatherAxis;
  const quantizeAxis = table.quantizeAxis < 0 ? table.quantizeAxis + 2 : table.quantizeAxis;
  if (gatherAxis !== 0) throw new QuantizedTableError(`gather_axis ${table.gatherAxis} (only 0 is supported for a table lookup)`);
  if (quantizeAxis !== 0 && quantizeAxis !== 1) throw new QuantizedTableError(`quantize_axis ${table.quantizeAxis} outside a 2-D table`);
  if (!(blockSize >= 1)) throw new QuantizedTableError(`block_size ${blockSize}`);
  const packedUint8 = dataType === DataType.UINT8;
  const nibbles = dataType === DataType.INT4 || dataType === DataType.UINT4;
  if (!packedUint8 && !nibbles) throw new QuantizedTableError(`data type ${dataType} (supported: uint8, int4, uint4)`);
  if (packedUint8 && ![2, 4, 8].includes(bits)) throw new QuantizedTableError(`bits=${bits} with uint8 data (supported: 2, 4, 8)`);
  if (nibbles && bits !== 4) throw new QuantizedTableError(`bits=${bits} with 4-bit data (must be 4)`);
  if (packedUint8 && quantizeAxis !== 1) throw new QuantizedTableError('uint8 data quantized along axis 0 (must be the last axis)');

  const rows = dims[0];
  const columns = packedUint8 ? dims[1] * (8 / bits) : dims[1];
  const logical = [rows, columns];
  const blocks = Math.ceil(logical[quantizeAxis] / blockSize);
  const expectedScales = quantizeAxis === 1 ? [rows, blocks] : [blocks, columns];
  if (scaleDims.join() !== expectedScales.join()) {
    throw new QuantizedTableError(`scales of shape [${scaleDims}] do not match data [${dims}] (expected [${expectedScales}])`);
  }
  if (zeroPoints && table.zeroPointType !== dataType) throw new QuantizedTableError(`zero_points of type ${table.zeroPointType} with data of type ${dataType}`);

  const signed = dataType === DataType.INT4;
  const zeroRowBytes = Math.ceil((blocks * bits) / 8);
  const defaultZero = packedUint8 ? 1 << (bits - 1) : 0;
  const values = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const flat = row * columns + column;
      const q = packedUint8 ? unsignedAt(data, flat, bits) : nibbleAt(data, flat, signed);
      const scaleIndex = quantizeAxis === 1 ? row * blocks + Math.floor(column / blockSize) : Math.floor(row / blockSize) * columns + column;
      let zero = defaultZero;
      if (zeroPoints && packedUint8) zero = unsignedAt(zeroPoints.subarray(row * zeroRowBytes), scaleIndex - row * blocks, bits);
      else if (zeroPoints) zero = nibbleAt(zeroPoints, scaleIndex, signed);
      values[flat] = Math.fround((q - zero) * scales[scaleIndex]);
    }
  }
  return { values, rows, columns };
}
