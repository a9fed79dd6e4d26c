// One seeded generator for everything that must repeat: sampling seeds, fixture and demo weights, test data.

/**
 * mulberry32: 32-bit state, fast, ample quality for sampling and random weights (not for cryptography).
 * Example: `mulberry32(42)()` → `0.6011037519201636` every time.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
