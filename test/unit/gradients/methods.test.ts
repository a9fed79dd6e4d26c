// Pure parts of the gradient methods: quadrature rules, saliency norms, gradient × input, IG bookkeeping.
import { describe, expect, it } from 'vitest';
import { gaussLegendre, geometricSpacing, quadrature } from '../../../main/engine/gradients/methods/quadrature';
import { saliency } from '../../../main/engine/gradients/methods/saliency';
import { gradientTimesInput, sumRows } from '../../../main/engine/gradients/methods/grad-x-input';
import { attributionsFrom, baselineEmbeddings, completeness } from '../../../main/engine/gradients/methods/integrated-gradients';

const integrate = (q: { points: number[]; weights: number[] }, f: (x: number) => number) => q.points.reduce((s, x, k) => s + q.weights[k] * f(x), 0);

describe('quadrature', () => {
  it('Gauss–Legendre matches the tabulated 2- and 3-point rules', () => {
    const two = gaussLegendre(2);
    expect(two.points[0]).toBeCloseTo(-1 / Math.sqrt(3), 14);
    expect(two.weights[1]).toBeCloseTo(1, 14);
    const three = gaussLegendre(3);
    expect(three.points[2]).toBeCloseTo(Math.sqrt(3 / 5), 14);
    expect(three.weights[1]).toBeCloseTo(8 / 9, 14);
  });

  it('Gauss–Legendre with n points integrates polynomials of degree 2n − 1 exactly', () => {
    for (const n of [1, 4, 9, 32, 64]) {
      const q = quadrature('gauss-legendre', n);
      const degree = 2 * n - 1;
      expect(integrate(q, (x) => x ** degree)).toBeCloseTo(1 / (degree + 1), 10);
      expect(q.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it('midpoint and trapezoid place their points as documented', () => {
    expect(quadrature('midpoint', 4).points).toEqual([0.125, 0.375, 0.625, 0.875]);
    const trapezoid = quadrature('trapezoid', 5);
    expect(trapezoid.points).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(trapezoid.weights).toEqual([0.125, 0.25, 0.25, 0.25, 0.125]);
    expect(() => quadrature('trapezoid', 1)).toThrow(/at least 2/);
    expect(() => quadrature('simpson' as never, 4)).toThrow(/valid: midpoint, trapezoid, gauss-legendre/);
  });

  it('errors shrink at the documented orders on a smooth integrand', () => {
    const f = (x: number) => Math.exp(x);
    const exact = Math.E - 1;
    const error = (rule: 'midpoint' | 'trapezoid' | 'gauss-legendre', n: number) => Math.abs(integrate(quadrature(rule, n), f) - exact);
    expect(error('midpoint', 16) / error('midpoint', 32)).toBeCloseTo(4, 1);
    expect(error('gauss-legendre', 6)).toBeLessThan(1e-12);
  });

  it('geometric spacing integrates the same integral, resolving a step near zero', () => {
    // A sharp rise of width 1e-9 at zero, like a zero baseline through RMSNorm: ∫ = 1 − 1e-9·(1 − e^{-1e9}).
    const f = (x: number) => Math.exp(-x / 1e-9) / 1e-9;
    const spaced = geometricSpacing(quadrature('gauss-legendre', 64));
    expect(spaced.points[0]).toBeGreaterThan(0);
    expect(integrate(spaced, f)).toBeCloseTo(1, 2);
    expect(integrate(quadrature('gauss-legendre', 64), f)).toBeLessThan(0.5);
    expect(integrate(spaced, (x) => x * x)).toBeCloseTo(1 / 3, 4);
  });
});

describe('saliency and gradient × input', () => {
  const gradient = Float32Array.of(3, 4, 0, -1, 1, 1, 2, 2); // [2 rows, 2 positions, 2 hidden]
  it('reduces the hidden axis with each norm', () => {
    expect(Array.from(saliency(gradient, 2, 2, 2, 'l2'))).toEqual([5, 1, Math.fround(Math.SQRT2), Math.fround(2 * Math.SQRT2)]);
    expect(Array.from(saliency(gradient, 2, 2, 2, 'l1'))).toEqual([7, 1, 2, 4]);
    expect(Array.from(saliency(gradient, 2, 2, 2, 'max'))).toEqual([4, 1, 1, 2]);
  });
  it('takes the dot product with each position’s embedding and sums rows', () => {
    const embeddings = Float32Array.of(1, 2, 3, 4);
    expect(Array.from(gradientTimesInput(gradient, embeddings, 2, 2, 2))).toEqual([11, -4, 3, 14]);
    expect(Array.from(sumRows(gradient, 2, 4))).toEqual([4, 5, 2, 1]);
  });
});

describe('integrated-gradients bookkeeping', () => {
  it('builds baselines and attributions as defined', () => {
    const input = Float32Array.of(1, 2, 3, 4);
    const table = Float32Array.of(9, 9, 0.5, -0.5);
    expect(Array.from(baselineEmbeddings('zero', input, 2, {}))).toEqual([0, 0, 0, 0]);
    expect(Array.from(baselineEmbeddings('pad', input, 2, { table, tokenId: 1 }))).toEqual([0.5, -0.5, 0.5, -0.5]);
    expect(Array.from(baselineEmbeddings('scaled', input, 2, { scale: 0.5 }))).toEqual([0.5, 1, 1.5, 2]);
    const attributions = attributionsFrom(Float64Array.of(1, 1, 2, 0), input, new Float32Array(4), 2, 2);
    expect(Array.from(attributions)).toEqual([3, 6]);
  });
  it('reports the completeness error and warns above 5%', () => {
    expect(completeness(Float32Array.of(1, 1), 2).completenessError).toBe(0);
    const off = completeness(Float32Array.of(1, 1), 2.5);
    expect(off.completenessError).toBeCloseTo(0.2, 10);
    expect(off.warning).toMatch(/error 20\.0% > 5%/);
  });
});
