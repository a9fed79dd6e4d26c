// Lengths at which gradient programs probe a run's shapes (main/engine/gradients/probe-extrapolation.ts), here so the
// memory estimate charges the probe that will actually run.

/** Runs at or below this length are probed directly (a probe there is as cheap as three short ones). */
export const EXTRAPOLATE_ABOVE = 256;

/**
 * The three short lengths probed for a run of `targets` target positions: just long enough to hold them, and spaced
 * unevenly so a dimension that bends (a window, a rounding) between them is caught by the third.
 *
 * Example: `probeLengths(32)` → `[40, 48, 64]`.
 */
export function probeLengths(targets: number): [number, number, number] {
  const first = targets + 8;
  return [first, first + 8, first + 24];
}

/**
 * The longest sequence a shape probe of this run runs at: the run's own length when short, otherwise the last short
 * length (extrapolation).
 *
 * Example: `longestProbe(8192, 32)` → 64; `longestProbe(200, 32)` → 200.
 */
export function longestProbe(length: number, targets: number): number {
  const lengths = probeLengths(targets);
  return length > EXTRAPOLATE_ABOVE && lengths[2] < length ? lengths[2] : length;
}
