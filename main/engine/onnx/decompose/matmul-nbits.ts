// com.microsoft.MatMulNBits with constant weights → a float MatMul on dequantized weights.
//
// B is uint8 [N, kBlocks, blobSize]: for column n and block j, `blockSize` values of `bits` bits packed least
// significant first (4 bits: the first value in the low nibble). W[k, n] = (q − zero) · scale[n, j] with
// j = ⌊k / blockSize⌋; zero from zero_points (uint8 packed the same way, per row n, or float [N, kBlocks]),
// default 2^(bits−1). The product is formed in float64 (exact for these integer × float32 products) and rounded
// once to the scales' type, as the kernel's float multiply does.
import { fromHalfBits, toHalfBits } from '../../../../shared/float16';
import { DataType, type NodeProto } from '../proto';
import { intAttribute, optionalInput, UnsupportedFusedOperatorError, type DecomposeContext, type DecomposeResult } from './common';

export interface QuantizedWeights {
  K: number;
  N: number;
  bits: number;
  blockSize: number;
  /** uint8 [N, kBlocks, blobSize] */
  packed: Uint8Array;
  /** float values [N · kBlocks] */
  scales: ArrayLike<number>;
  /** uint8 packed [N, ⌈kBlocks·bits/8⌉] or float [N · kBlocks]; undefined → 2^(bits−1) */
  zeroPoints?: { packed: Uint8Array } | { values: ArrayLike<number> };
}

/** Reads value `i` of a least-significant-first bit stream of `bits`-bit values starting at byte `offset`. */
function unpack(data: Uint8Array, offset: number, i: number, bits: number): number {
  const bit = i * bits;
  const byte = offset + (bit >> 3);
  const shift = bit & 7;
  const word = data[byte] | ((data[byte + 1] ?? 0) << 8);
  return (word >> shift) & ((1 << bits) - 1);
}

/** Dequantized weights W as a [K, N] row-major Float64Array (round to the target type afterwards). */
export function dequantizeNBits(weights: QuantizedWeights): Float64Array {
  const { K, N, bits, blockSize, packed, scales, zeroPoints } = weights;
  if (![2, 4, 8].includes(bits)) throw new Error(`MatMulNBits: ${bits}-bit weights are not supported (2, 4 or 8)`);
  const kBlocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const zeroBytes = Math.ceil((kBlocks * bits) / 8);
  const out = new Float64Array(K * N);
  const defaultZero = 1 << (bits - 1);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < kBlocks; j++) {
      const scale = scales[n * kBlocks + j];
      let zero = defaultZero;
      if (zeroPoints && 'packed' in zeroPoints) zero = unpack(zeroPoints.packed, n * zeroBytes, j, bits);
      else if (zeroPoints) zero = zeroPoints.values[n * kBlocks + j];
      const offset = (n * kBlocks + j) * blobSize;
      for (let i = 0; i < blockSize; i++) {
        const k = j * blockSize + i;
        if (k >= K) break;
        out[k * N + n] = (unpack(packed, offset, i, bits) - zero) * scale;
      }
    }
  }
  return out;
}

function floats(values: ArrayLike<number> | ArrayLike<bigint>, dataType: number): number[] {
  const list = Array.from(values as ArrayLike<number>, Number);
  return dataType === DataType.FLOAT16 ? list.map(fromHalfBits) : list;
}

export function decomposeMatMulNBits(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const b = context.builder;
  const index = context.index;
  const K = intAttribute(node, 'K', 0);
  const N = intAttribute(node, 'N', 0);
  const bits = intAttribute(node, 'bits', 4);
  const blockSize = intAttribute(node, 'block_size', 0);
  if (optionalInput(node, 4)) throw new UnsupportedFusedOperatorError(node, 'g_idx');
  const packed = index.constantArray(node.input[1]);
  const scaleTensor = index.constantTensor(node.input[2]);
  if (!(packed instanceof Uint8Array) || !scaleTensor) throw new UnsupportedFusedOperatorError(node, 'non-constant weights or scales');
  const scaleType = scaleTensor.dataType;
  const scales = floats(index.constantArray(node.input[2]) as ArrayLike<number>, scaleType);
  let zeroPoints: QuantizedWeights['zeroPoints'];
  const zeroName = optionalInput(node, 3);
  if (zeroName) {
    const zeroTensor = index.constantTensor(zeroName);
    if (!zeroTensor) throw new UnsupportedFusedOperatorError(node, 'non-constant zero points');
    const values = index.constantArray(zeroName)!;
    zeroPoints = zeroTensor.dataType === DataType.UINT8 ? { packed: values as Uint8Array } : { values: floats(values as ArrayLike<number>, zeroTensor.dataType) };
  }
  const dequantized = dequantizeNBits({ K, N, bits, blockSize, packed, scales, zeroPoints });
  const weight =
    scaleType === DataType.FLOAT16
      ? b.initializer(b.fresh(`${node.name || 'MatMulNBits'}_weight`), Uint16Array.from(dequantized, toHalfBits), [K, N], DataType.FLOAT16)
      : b.initializer(b.fresh(`${node.name || 'MatMulNBits'}_weight`), Float32Array.from(dequantized), [K, N]);
  const bias = optionalInput(node, 5);
  if (bias) b.ops('Add', [b.op('MatMul', [node.input[0], weight]), bias], {}, { outputNames: [node.output[0]] });
  else b.ops('MatMul', [node.input[0], weight], {}, { outputNames: [node.output[0]] });
  return {};
}
