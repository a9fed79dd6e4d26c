// Quadrature rules for the integrated-gradients path integral ∫₀¹ ∂f/∂x(x' + α(x − x')) dα, as points α_k
// and weights w_k on [0, 1]. They are Captum's (captum/attr/_utils/approximation_methods.py: riemann_middle,
// riemann_trapezoid, gausslegendre), so that uniform-spacing attributions equal Captum's and inseq's:
//   midpoint (riemann_middle):  α_k = (k − ½)/n, k = 1…n,  w_k = 1/n
//   trapezoid (riemann_trapezoid): α_k = (k − 1)/(n − 1), w_k = 1/n, halved at both ends (n ≥ 2). The weights
//                        sum to 1 − 1/n, not 1 (Captum's definition, kept so that the numbers agree): the
//                        rule under-weights the integral by 1/n, which the completeness error shows.
//   gauss-legendre:      α_k = (ξ_k + 1)/2, w_k = ω_k/2, with ξ_k the roots of the Legendre polynomial P_n and
//                        ω_k = 2 / ((1 − ξ_k²) P_n'(ξ_k)²) — numpy's leggauss mapped to [0, 1], as Captum does;
//                        roots found by Newton's method from Chebyshev-like starting points, which converges for
//                        every n (Abramowitz & Stegun 25.4.29).

export type QuadratureRule = 'midpoint' | 'trapezoid' | 'gauss-legendre';
const QUADRATURE_RULES: readonly QuadratureRule[] = ['midpoint', 'trapezoid', 'gauss-legendre'];

export interface Quadrature {
  points: number[];
  weights: number[];
}

/** P_n(x) and P_n'(x) by the three-term recurrence. */
function legendre(n: number, x: number): { value: number; derivative: number } {
  let previous = 1;
  let current = x;
  if (n === 0) return { value: 1, derivative: 0 };
  for (let k = 2; k <= n; k++) {
    const next = ((2 * k - 1) * x * current - (k - 1) * previous) / k;
    previous = current;
    current = next;
  }
  return { value: current, derivative: (n * (x * current - previous)) / (x * x - 1) };
}

/** Gauss–Legendre nodes and weights on [-1, 1], ascending. */
export function gaussLegendre(n: number): Quadrature {
  const points: number[] = [];
  const weights: number[] = [];
  for (let i = 1; i <= n; i++) {
    let x = Math.cos((Math.PI * (i - 0.25)) / (n + 0.5));
    for (let iteration = 0; iteration < 100; iteration++) {
      const { value, derivative } = legendre(n, x);
      const step = value / derivative;
      x -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    const { derivative } = legendre(n, x);
    points.push(x);
    weights.push(2 / ((1 - x * x) * derivative * derivative));
  }
  const order = points.map((_, i) => i).sort((a, b) => points[a] - points[b]);
  return { points: order.map((i) => points[i]), weights: order.map((i) => weights[i]) };
}

/** Points and weights of `rule` with `steps` gradient evaluations on [0, 1]. */
export function quadrature(rule: QuadratureRule, steps: number): Quadrature {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`integrated gradients needs a whole number of steps ≥ 1, got ${steps}`);
  switch (rule) {
    case 'midpoint':
      return { points: Array.from({ length: steps }, (_, k) => (k + 0.5) / steps), weights: Array(steps).fill(1 / steps) };
    case 'trapezoid': {
      if (steps < 2) throw new Error('the trapezoid rule needs at least 2 steps');
      const h = 1 / (steps - 1);
      return {
        points: Array.from({ length: steps }, (_, k) => (k === steps - 1 ? 1 : k * h)),
        weights: Array.from({ length: steps }, (_, k) => (k === 0 || k === steps - 1 ? 1 / (2 * steps) : 1 / steps)),
      };
    }
    case 'gauss-legendre': {
      const { points, weights } = gaussLegendre(steps);
      return { points: points.map((x) => (x + 1) / 2), weights: weights.map((w) => w / 2) };
    }
    default:
      throw new Error(`unknown integration rule '${rule as string}'; valid: ${QUADRATURE_RULES.join(', ')}`);
  }
}

/**
 * Geometric spacing: the substitution α = (e^{κs} − 1)/(e^κ − 1) applied to a rule on s ∈ [0, 1] spreads the
 * points evenly over 16 decades of α (κ = ln 10¹⁶). With a zero baseline every RMSNorm/LayerNorm multiplies
 * inputs far below its epsilon scale by 1/√ε, so f keeps changing down to α ≈ 10⁻¹⁵ even in a two-layer model
 * (measured on the llama fixture). The integral is unchanged, ∫₀¹ g(α) dα = ∫₀¹ g(α(s)) α'(s) ds, so the
 * weights become w_k·α'(s_k).
 */
export function geometricSpacing(rule: Quadrature, kappa = Math.log(1e16)): Quadrature {
  const scale = Math.expm1(kappa);
  return {
    points: rule.points.map((s) => Math.expm1(kappa * s) / scale),
    weights: rule.weights.map((w, k) => (w * kappa * Math.exp(kappa * rule.points[k])) / scale),
  };
}
