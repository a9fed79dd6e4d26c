// LayerNormalization and RMS normalisation (com.microsoft SimplifiedLayerNormalization, the Skip… variants,
// opset-23 RMSNormalization). The forward statistics are recomputed from the input (cheap next to a MatMul)
// rather than read from optional outputs the original node may not produce.
//   x̂ = (x − μ)·σ⁻¹ (RMS: x̂ = x·σ⁻¹),  y = x̂ ⊙ γ + β
//   dx = σ⁻¹ ⊙ (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)),  ĝ = g ⊙ γ   (RMS: without the mean(ĝ) term)
import type { GradientRule, RuleContext } from './context';

interface NormParts {
  dx: string;
  normalized: string;
}

function normBackward(ctx: RuleContext, x: string, rank: number, g: string, scale: string, firstAxis: number, epsilon: number, center: boolean): NormParts {
  const axes = Array.from({ length: rank - firstAxis }, (_, i) => firstAxis + i);
  const gradAxes = axes.map((axis) => axis + 1);
  const centered = center ? ctx.op('Sub', [x, ctx.reduceMean(x, axes, true)]) : x;
  const variance = ctx.reduceMean(ctx.mul(centered, centered), axes, true);
  const inverse = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.constant(epsilon, ctx.input(0), [])])])]);
  const normalized = ctx.mul(centered, inverse);
  const scaledGrad = ctx.mul(g, scale);
  const meanOf = (t: string) => ctx.reduceMean(t, gradAxes, true);
  let inner = ctx.op('Sub', [scaledGrad, ctx.mul(normalized, meanOf(ctx.mul(scaledGrad, normalized)))]);
  if (center) inner = ctx.op('Sub', [inner, meanOf(scaledGrad)]);
  return { dx: ctx.mul(inner, inverse), normalized };
}

/** Cotangents of scale (γ) and bias (β) when requested (training); otherwise undefined. */
function affineGrads(ctx: RuleContext, g: string, normalized: string, outShape: number[], scaleIndex: number, biasIndex: number) {
  const scale = ctx.node.input[scaleIndex];
  const bias = ctx.node.input[biasIndex];
  return {
    dScale: scale && ctx.needs(scaleIndex) ? ctx.reduceTo(ctx.mul(g, normalized), outShape, ctx.shape(scale)) : undefined,
    dBias: bias && ctx.needs(biasIndex) ? ctx.reduceTo(g, outShape, ctx.shape(bias)) : undefined,
  };
}

function checkStatOutputs(ctx: RuleContext, grads: (string | undefined)[], from: number, to: number): void {
  for (let index = from; index <= to; index++) if (grads[index]) ctx.fail(`output ${index} (a normalisation statistic) is differentiated`);
}

function plainNorm(center: boolean, defaultEpsilon: number): GradientRule {
  return (ctx, grads) => {
    checkStatOutputs(ctx, grads, 1, 2);
    const g = grads[0]!;
    const x = ctx.input(0);
    const rank = ctx.shape(x).length;
    const firstAxis = ctx.axis(ctx.attribute('axis', -1), rank);
    const epsilon = ctx.attribute('epsilon', defaultEpsilon);
    const needsNorm = ctx.needs(0) || ctx.needs(1);
    const parts = needsNorm ? normBackward(ctx, x, rank, g, ctx.input(1), firstAxis, epsilon, center) : undefined;
    const { dScale, dBias } = parts ? affineGrads(ctx, g, parts.normalized, ctx.shape(ctx.output(0)), 1, 2) : { dScale: undefined, dBias: ctx.needs(2) ? ctx.reduceTo(g, ctx.shape(ctx.output(0)), ctx.shape(ctx.input(2))) : undefined };
    return [ctx.needs(0) ? parts!.dx : undefined, dScale, dBias];
  };
}

// Skip…Normalization: s = input + skip (+ bias), y = norm(s); output 3 (when present) is s itself.
function skipNorm(center: boolean): GradientRule {
  return (ctx, grads) => {
    checkStatOutputs(ctx, grads, 1, 2);
    const [input, skip] = [ctx.input(0), ctx.input(1)];
    const gamma = ctx.input(2);
    const betaIndex = center ? 3 : -1;
    const biasIndex = center ? 4 : 3;
    const bias = ctx.node.input[biasIndex];
    const outShape = ctx.shape(ctx.output(0));
    let sum = ctx.op('Add', [input, skip]);
    if (bias) sum = ctx.op('Add', [sum, bias]);
    const epsilon = ctx.attribute('epsilon', 1e-5);
    const pieces: string[] = [];
    let normalized: string | undefined;
    if (grads[0]) {
      const parts = normBackward(ctx, sum, outShape.length, grads[0], gamma, outShape.length - 1, epsilon, center);
      pieces.push(parts.dx);
      normalized = parts.normalized;
    }
    if (grads[3]) pieces.push(grads[3]);
    const ds = pieces.length === 0 ? undefined : pieces.length === 1 ? pieces[0] : ctx.op('Add', pieces);
    const result: (string | undefined)[] = ctx.node.input.map(() => undefined);
    if (ds) {
      result[0] = ctx.needs(0) ? ctx.reduceTo(ds, outShape, ctx.shape(input)) : undefined;
      result[1] = ctx.needs(1) ? ctx.reduceTo(ds, outShape, ctx.shape(skip)) : undefined;
      if (bias && ctx.needs(biasIndex)) result[biasIndex] = ctx.reduceTo(ds, outShape, ctx.shape(bias));
    }
    if (grads[0] && normalized) {
      if (ctx.needs(2)) result[2] = ctx.reduceTo(ctx.mul(grads[0], normalized), outShape, ctx.shape(gamma));
      if (betaIndex > 0 && ctx.node.input[betaIndex] && ctx.needs(betaIndex)) result[betaIndex] = ctx.reduceTo(grads[0], outShape, ctx.shape(ctx.input(betaIndex)));
    }
    return result;
  };
}

export const normalizationRules: Record<string, GradientRule> = {
  LayerNormalization: plainNorm(true, 1e-5),
  SimplifiedLayerNormalization: plainNorm(false, 1e-5),
  RMSNormalization: plainNorm(false, 1e-5),
  SkipSimplifiedLayerNormalization: skipNorm(false),
  SkipLayerNormalization: skipNorm(true),
};
