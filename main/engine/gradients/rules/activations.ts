// The Gelu family: ONNX Gelu (opset 20, exact or tanh form) and onnxruntime's com.microsoft Gelu, FastGelu
// (tanh form with optional bias), BiasGelu (exact form of a + bias) and QuickGelu (x·σ(αx)). Each rule
// multiplies the cotangent by the local slope; the biased forms recompute a + bias in the derivative section
// and send the same cotangent to the bias, summed over the broadcast axes.
import type { GradientRule, RuleContext } from './context';

/** √(2/π), the tanh form's scale. */
const TANH_SCALE = Math.sqrt(2 / Math.PI);
const CUBIC = 0.044715;

/** d/dx of x·Φ(x) = Φ(x) + x·φ(x). */
function exactSlope(ctx: RuleContext, x: string, like: string): string {
  const c = (v: number) => ctx.constant(v, like, []);
  const cdf = ctx.mul(ctx.op('Add', [c(1), ctx.op('Erf', [ctx.mul(x, c(Math.SQRT1_2))])]), c(0.5));
  const pdf = ctx.mul(ctx.op('Exp', [ctx.mul(ctx.mul(x, x), c(-0.5))]), c(1 / Math.sqrt(2 * Math.PI)));
  return ctx.op('Add', [cdf, ctx.mul(x, pdf)]);
}

/** d/dx of ½x(1 + tanh u), u = k(x + 0.044715x³): ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²). */
function tanhSlope(ctx: RuleContext, x: string, like: string): string {
  const c = (v: number) => ctx.constant(v, like, []);
  const x2 = ctx.mul(x, x);
  const u = ctx.mul(ctx.op('Add', [x, ctx.mul(ctx.mul(x2, x), c(CUBIC))]), c(TANH_SCALE));
  const t = ctx.op('Tanh', [u]);
  const left = ctx.mul(ctx.op('Add', [c(1), t]), c(0.5));
  const du = ctx.mul(ctx.op('Add', [c(1), ctx.mul(x2, c(3 * CUBIC))]), c(TANH_SCALE));
  const right = ctx.mul(ctx.mul(ctx.mul(x, c(0.5)), ctx.op('Sub', [c(1), ctx.mul(t, t)])), du);
  return ctx.op('Add', [left, right]);
}

/** A rule for y = f(x + bias) (bias optional, input 1) given f's slope (`like`: a tensor of the float type). */
function biased(slope: (ctx: RuleContext, x: string, like: string) => string): GradientRule {
  return (ctx, [g]) => {
    const bias = ctx.node.input[1];
    if (!ctx.needs(0) && !(bias && ctx.needs(1))) return [undefined, undefined];
    const x = ctx.input(0);
    const sum = bias ? ctx.op('Add', [x, bias]) : x;
    const grad = ctx.mul(g!, slope(ctx, sum, x));
    const out = ctx.shape(ctx.output(0));
    return [
      ctx.needs(0) ? ctx.reduceTo(grad, out, ctx.shape(x)) : undefined,
      bias && ctx.needs(1) ? ctx.reduceTo(grad, out, ctx.shape(bias)) : undefined,
    ];
  };
}

// ONNX Gelu and com.microsoft Gelu (which has no `approximate` attribute and is always exact).
const gelu: GradientRule = (ctx, grads) => {
  const approximate = ctx.attribute('approximate', 'none');
  if (approximate !== 'none' && approximate !== 'tanh') ctx.fail(`approximate='${approximate}' (expected 'none' or 'tanh')`);
  return biased(approximate === 'tanh' ? tanhSlope : exactSlope)(ctx, grads).slice(0, 1);
};

// QuickGelu: y = x·σ(αx), dy/dx = s + αx·s(1 − s) with s = σ(αx).
const quickGelu: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const x = ctx.input(0);
  const alpha = ctx.attribute('alpha', 1.702);
  const c = (v: number) => ctx.constant(v, x, []);
  const s = ctx.op('Sigmoid', [ctx.mul(x, c(alpha))]);
  const slope = ctx.op('Add', [s, ctx.mul(ctx.mul(ctx.mul(x, c(alpha)), s), ctx.op('Sub', [c(1), s]))]);
  return [ctx.mul(g!, slope)];
};

export const activationRules: Record<string, GradientRule> = {
  Gelu: gelu,
  FastGelu: biased(tanhSlope),
  BiasGelu: biased(exactSlope),
  QuickGelu: quickGelu,
};
