// 4-bit block quantization in the layout of com.microsoft MatMulNBits (as onnxruntime's quantizer and the
// onnxruntime-genai model builder write it): symmetric, no zero-point input (the operator's default zero
// point is 8), one float scale per block of `blockSize` consecutive input rows of each output column.

export interface NBitsWeight {
  /** [N, blocks, blockSize / 2] packed nibbles, low nibble first. */
  packed: Uint8Array;
  /** [N · blocks] scales. */
  scales: Float32Array;
  /** The dequantized weight [K, N], i.e. what the operator multiplies by (for reference checks). */
  dequantized: Float32Array;
  blocks: number;
}

/** Quantizes a MatMul weight stored [K, N] (in, out). K need not be a multiple of blockSize (zero padded). */
export function quantize4Bit(weight: Float32Array, k: number, n: number, blockSize = 32): NBitsWeight {
  const blocks = Math.ceil(k / blockSize);
  const bytesPerBlock = blockSize / 2;
  const packed = new Uint8Array(n * blocks * bytesPerBlock);
  const scales = new Float32Array(n * blocks);
  const dequantized = new Float32Array(k * n);
  for (let column = 0; column < n; column++) {
    for (let block = 0; block < blocks; block++) {
      let absMax = 0;
      for (let i = 0; i < blockSize; i++) {
        const row = block * blockSize + i;
        if (row < k) absMax = Math.max(absMax, Math.abs(weight[row * n + column]));
      }
      const scale = absMax / 7 || 1;
      scales[column * blocks + block] = scale;
      for (let i = 0; i < blockSize; i++) {
        const row = block * blockSize + i;
        const level = row < k ? Math.max(-8, Math.min(7, Math.round(weight[row * n + column] / scale))) : 0;
        if (row < k) dequantized[row * n + column] = level * scale;
        const byte = (column * blocks + block) * bytesPerBlock + (i >> 1);
        packed[byte] |= (level + 8) << ((i & 1) * 4);
      }
    }
  }
  return { packed, scales, dequantized, blocks };
}
