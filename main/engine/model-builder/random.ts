// Seeded random numbers for fixture weights. Each tensor draws from its own stream, seeded by the model seed
// and the tensor's name, so a weight does not change when other tensors are added or built in another order
// (the fused-operator twins rely on this to share weights with the decomposed models).

import { mulberry32 } from '../../../shared/random';

export { mulberry32 };

/** FNV-1a hash of a string mixed with a seed: the stream seed for one named tensor. */
export function streamSeed(seed: number, name: string): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** `count` normal samples with mean `mean` and standard deviation `std` (Box–Muller on mulberry32). */
export function gaussian(seed: number, name: string, count: number, std: number, mean = 0): Float32Array {
  const next = mulberry32(streamSeed(seed, name));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    // 1 - u keeps the logarithm's argument in (0, 1].
    const radius = Math.sqrt(-2 * Math.log(1 - next()));
    const angle = 2 * Math.PI * next();
    out[i] = mean + std * radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = mean + std * radius * Math.sin(angle);
  }
  return out;
}
