// Seeded random numbers for fixture weights. Each tensor draws from its own stream, seeded by the model seed
// and the tensor's name, so a weight does not change when other tensors are added or built in another order
// (the fused-operator twins rely on this to share weights with the decomposed models).

/** mulberry32: a 32-bit generator, small and fast; quality is ample for random weights. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
