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
    // Captum's riemann_trapezoid: 1/n per point, halved at the ends (the weights sum to 1 − 1/n).
    expect(trapezoid.weights).toEqual([0.1, 0.2, 0.2, 0.2, 0.1]);
    expect(() => quadrature('trapezoid', 1)).toThrow(/at least 2/);
    expect(() => quadrature('simpson' as never, 4)).toThrow(/valid: midpoint, trapezoid, gauss-legendre/);
  });

  it('errors shrink at the documented orders on a smooth integrand', () => {
    const f = (x: number) => Math.exp(x);
    const exact = Math.E - 1;
    const error = (rule: 'midpoint' | 'trapezoid' | 'gauss-legendre', n: number) => Math.abs(integrate(quadrature(rule, n), f) - exact);
    expect(error('midpoint', 16) / error('midpoint', 32)).toBeCloseTo(4, 1);
    expect(error('gauss-legendre', 6)).toBeLessThan(1e-12);
    // Captum's trapezoid weights sum to 1 − 1/n, so its error is first order: about (e − 1)/(2n) here.
    expect(error('trapezoid', 32) / error('trapezoid', 64)).toBeCloseTo(2, 1);
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

/**
 * Captum's nodes and weights (captum/attr/_utils/approximation_methods.py), computed here without our quadrature
 * module: numpy's linspace for the Riemann rules, and Legendre roots by bisection on sign changes of P_n (then
 * Newton from the bracket) for Gauss–Legendre, with the weights from P_{n−1}: ω = 2(1 − x²)/(n P_{n−1}(x))².
 */
function linspace(start: number, stop: number, n: number): number[] {
  const step = (stop - start) / (n - 1);
  return Array.from({ length: n }, (_, k) => (k === n - 1 ? stop : start + k * step));
}
function legendreValues(n: number, x: number): [number, number] {
  let [before, value] = [1, x];
  for (let k = 2; k <= n; k++) [before, value] = [value, ((2 * k - 1) * x * value - (k - 1) * before) / k];
  return [value, before];
}
function legendreRule(n: number): { points: number[]; weights: number[] } {
  const grid = 40 * n + 1; // odd: no cell edge at 0, a root of P_n for odd n
  const points: number[] = [];
  for (let i = 0; i < grid; i++) {
    let [a, b] = [-1 + (2 * i) / grid, -1 + (2 * (i + 1)) / grid];
    if (Math.sign(legendreValues(n, a)[0]) === Math.sign(legendreValues(n, b)[0])) continue;
    for (let iteration = 0; iteration < 200 && b - a > 1e-15; iteration++) {
      const middle = (a + b) / 2;
      if (Math.sign(legendreValues(n, middle)[0]) === Math.sign(legendreValues(n, a)[0])) a = middle;
      else b = middle;
    }
    points.push((a + b) / 2);
  }
  const weights = points.map((x) => (2 * (1 - x * x)) / (n * legendreValues(n, x)[1]) ** 2);
  return { points: points.map((x) => (x + 1) / 2), weights: weights.map((w) => w / 2) };
}

describe("Captum's α nodes and weights (uniform spacing)", () => {
  const close = (got: number[], want: number[], tolerance: number) => {
    expect(got).toHaveLength(want.length);
    got.forEach((value, k) => expect(Math.abs(value - want[k])).toBeLessThanOrEqual(tolerance));
  };
  for (const n of [2, 3, 7, 16, 64, 128]) {
    it(`n = ${n}: riemann_middle, riemann_trapezoid and gausslegendre`, () => {
      const midpoint = quadrature('midpoint', n);
      close(midpoint.points, linspace(1 / (2 * n), 1 - 1 / (2 * n), n), 1e-15);
      close(midpoint.points, Array.from({ length: n }, (_, k) => (k + 1 - 0.5) / n), 1e-16);
      close(midpoint.weights, Array(n).fill(1 / n), 0);
      const trapezoid = quadrature('trapezoid', n);
      close(trapezoid.points, linspace(0, 1, n), 1e-16);
      close(trapezoid.weights, Array.from({ length: n }, (_, k) => (k === 0 || k === n - 1 ? 0.5 / n : 1 / n)), 1e-17);
      const reference = legendreRule(n);
      const gauss = quadrature('gauss-legendre', n);
      expect(reference.points).toHaveLength(n);
      close(gauss.points, reference.points, 1e-13);
      close(gauss.weights, reference.weights, 1e-13);
    });
  }
  it('Gauss–Legendre with 5 points equals the tabulated rule (Abramowitz & Stegun 25.4, numpy leggauss(5))', () => {
    const x = [-0.906179845938664, -0.5384693101056831, 0, 0.5384693101056831, 0.906179845938664];
    const w = [0.2369268850561891, 0.4786286704993665, 0.5688888888888889, 0.4786286704993665, 0.2369268850561891];
    const gauss = quadrature('gauss-legendre', 5);
    close(gauss.points, x.map((v) => (v + 1) / 2), 1e-15);
    close(gauss.weights, w.map((v) => v / 2), 1e-15);
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
