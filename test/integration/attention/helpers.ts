// Test helpers for the attention tests: deterministic random data and one-shot onnxruntime runs.
import { createSession, Tensor, type Feeds } from '../../../main/engine/runtime';
import { encodeModel, type ModelProto } from '../../../main/engine/onnx/proto';

/** Deterministic pseudo-random numbers in [0, 1). */
import { mulberry32 as random } from '../../../shared/random';
export { random };

/** Uniform floats in [−scale, scale). */
export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

export function floatTensor(data: Float32Array, dims: number[]): Tensor {
  return new Tensor('float32', data, dims);
}

export function int32Tensor(values: number[], dims: number[]): Tensor {
  return new Tensor('int32', Int32Array.from(values), dims);
}

export function int64Tensor(values: number[], dims: number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
}

/** Runs a model once on CPU and returns the requested outputs as Float32Arrays (with dims). */
export async function runModel(model: ModelProto | Uint8Array, feeds: Feeds, fetches?: string[]): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const session = await createSession(model instanceof Uint8Array ? model : encodeModel(model), 'cpu', { intraOpNumThreads: 1 });
  try {
    const results = await session.run(feeds, fetches);
    return Object.fromEntries(
      Object.entries(results).map(([name, tensor]) => [name, { data: Float32Array.from(tensor.data as Float32Array), dims: [...tensor.dims] }]),
    );
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** A rotary cos/sin cache [positions, width] for base θ (HF layout: frequency θ^(−2i/r), r = 2·width). */
export function rotaryCache(positions: number, width: number, theta = 10000): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(positions * width);
  const sin = new Float32Array(positions * width);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < width; i++) {
      const angle = p / theta ** ((2 * i) / (2 * width));
      cos[p * width + i] = Math.cos(angle);
      sin[p * width + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
