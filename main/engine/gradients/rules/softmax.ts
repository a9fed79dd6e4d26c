// Softmax and LogSoftmax along one axis.
//   softmax:    dx = y ⊙ (g − Σ_axis g ⊙ y)
//   logsoftmax: dx = g − exp(y) ⊙ Σ_axis g
import type { GradientRule, RuleContext } from './context';

/** The normalised axis; before opset 13 the operators flatten at `axis`, which equals ours only for the last axis. */
function softmaxAxis(ctx: RuleContext): number {
  const rank = ctx.shape(ctx.input(0)).length;
  const axis = ctx.axis(ctx.attribute('axis', ctx.opset >= 13 ? -1 : 1), rank);
  if (ctx.opset < 13 && axis !== rank - 1) ctx.fail(`opset ${ctx.opset} ${ctx.node.opType} over axis ${axis} of rank ${rank} (only the last axis)`);
  return axis;
}

const softmax: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const y = ctx.output(0);
  const axis = softmaxAxis(ctx) + 1;
  const shifted = attentionShifted(ctx, y, axis);
  if (shifted) return [ctx.mul(y, shifted)];
  const weighted = ctx.reduceSum(ctx.mul(g!, y), [axis], true);
  return [ctx.mul(y, ctx.op('Sub', [g!, weighted]))];
};

/**
 * g − Σ_axis g ⊙ y for attention probabilities y = P whose only consumer is O = P·V. Then g = dO·Vᵀ and
 * Σ_j g_ij P_ij = dO_i · Σ_j P_ij V_j = dO_i · O_i =: D_i, a sum over the head dimension instead of the key axis;
 * and g − D = [dO, −D] · [V, 1]ᵀ, one MatMul with one more contracted column. For R cotangent rows this replaces
 * the product dO·Vᵀ, the row sums and the subtraction, three passes over [R, heads, T, T], by one. (The MatMul
 * rule's own dO·Vᵀ is then unused and pruned.)
 */
function attentionShifted(ctx: RuleContext, y: string, axis: number): string | undefined {
  const consumers = ctx.tools.consumers.get(y) ?? [];
  const product = consumers[0];
  if (consumers.length !== 1 || product.opType !== 'MatMul' || product.input[0] !== y || product.input[1] === y) return undefined;
  const yShape = ctx.shape(y);
  const [output, values] = [product.output[0], product.input[1]];
  const [oShape, vShape] = [ctx.shape(output), ctx.shape(values)];
  // The softmax axis must be the contracted one, with no batch broadcasting between P and O.
  if (axis !== yShape.length || oShape.length !== yShape.length || vShape.length < 2 || yShape.slice(0, -1).some((d, i) => d !== oShape[i])) return undefined;
  const dOutput = ctx.cotangentOf(output);
  if (!dOutput) return undefined;
  const rowSums = ctx.reduceSum(ctx.mul(dOutput, output), [axis], true);
  const augmentedGrad = ctx.op('Concat', [dOutput, ctx.op('Neg', [rowSums])], { axis });
  const ones = ctx.op('Expand', [ctx.constant(1, values, [1]), ctx.ints([...vShape.slice(0, -1), 1])]);
  const augmentedValues = ctx.op('Concat', [values, ones], { axis: vShape.length - 1 });
  const perm = vShape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return ctx.op('MatMul', [augmentedGrad, ctx.op('Transpose', [augmentedValues], { perm })]);
}

const logSoftmax: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const y = ctx.output(0);
  const axis = softmaxAxis(ctx) + 1;
  const total = ctx.reduceSum(g!, [axis], true);
  return [ctx.op('Sub', [g!, ctx.mul(ctx.op('Exp', [y]), total)])];
};

export const softmaxRules: Record<string, GradientRule> = { Softmax: softmax, LogSoftmax: logSoftmax };
