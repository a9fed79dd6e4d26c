// Goodness-of-fit helpers for the sampling tests: observed counts against exact probabilities.

/** Standard normal upper tail (Abramowitz & Stegun 26.2.17, |error| < 7.5e-8). */
function normalUpperTail(z: number): number {
  if (z < 0) return 1 - normalUpperTail(-z);
  const t = 1 / (1 + 0.2316419 * z);
  const density = Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI);
  return density * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
}

/** P(χ²_k ≥ x) by the Wilson–Hilferty cube-root approximation (good to a few 1e-3 for k ≥ 3). */
export function chiSquareUpperTail(x: number, degrees: number): number {
  const k = degrees;
  const z = (Math.cbrt(x / k) - (1 - 2 / (9 * k))) / Math.sqrt(2 / (9 * k));
  return normalUpperTail(z);
}

export interface FitResult {
  statistic: number;
  degrees: number;
  pValue: number;
  /** Total variation distance between the observed frequencies and the expected probabilities. */
  totalVariation: number;
  /** Observed outcomes whose expected probability is 0 (any is a failure on its own). */
  impossible: number;
}

/**
 * Pearson's χ² of `counts` (outcome → count) against `expected` (outcome → probability). Cells expected fewer
 * than 5 times are pooled into one so the χ² approximation holds.
 */
export function chiSquareFit(counts: Map<string, number>, expected: Map<string, number>): FitResult {
  let draws = 0;
  for (const count of counts.values()) draws += count;
  let statistic = 0;
  let cells = 0;
  let pooledObserved = 0;
  let pooledExpected = 0;
  let totalVariation = 0;
  let impossible = 0;
  const keys = new Set([...counts.keys(), ...expected.keys()]);
  for (const key of keys) {
    const observed = counts.get(key) ?? 0;
    const probability = expected.get(key) ?? 0;
    totalVariation += Math.abs(observed / draws - probability) / 2;
    if (probability === 0) {
      impossible += observed;
      continue;
    }
    const mean = probability * draws;
    if (mean < 5) {
      pooledObserved += observed;
      pooledExpected += mean;
      continue;
    }
    statistic += (observed - mean) ** 2 / mean;
    cells++;
  }
  if (pooledExpected > 0) {
    statistic += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
    cells++;
  }
  const degrees = Math.max(1, cells - 1);
  return { statistic, degrees, pValue: chiSquareUpperTail(statistic, degrees), totalVariation, impossible };
}
