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
  const weighted = attentionRowSums(ctx, y, axis) ?? ctx.reduceSum(ctx.mul(g!, y), [axis], true);
  return [ctx.mul(y, ctx.op('Sub', [g!, weighted]))];
};

/**
 * Σ_axis g ⊙ y for attention probabilities y = P whose only consumer is O = P·V: then g = dO·Vᵀ and
 * Σ_j g_ij P_ij = dO_i · Σ_j P_ij V_j = dO_i · O_i, a sum over the head dimension instead of the key axis. For
 * R cotangent rows this replaces two passes over [R, heads, T, T] by two over [R, heads, T, head_dim].
 */
function attentionRowSums(ctx: RuleContext, y: string, axis: number): string | undefined {
  const consumers = ctx.tools.consumers.get(y) ?? [];
  const product = consumers[0];
  if (consumers.length !== 1 || product.opType !== 'MatMul' || product.input[0] !== y || product.input[1] === y) return undefined;
  const yShape = ctx.shape(y);
  const output = product.output[0];
  const oShape = ctx.shape(output);
  // The softmax axis must be the contracted one, with no batch broadcasting between P and O.
  if (axis !== yShape.length || oShape.length !== yShape.length || yShape.slice(0, -1).some((d, i) => d !== oShape[i])) return undefined;
  const dOutput = ctx.cotangentOf(output);
  if (!dOutput) return undefined;
  return ctx.reduceSum(ctx.mul(dOutput, output), [axis], true);
}

const logSoftmax: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const y = ctx.output(0);
  const axis = softmaxAxis(ctx) + 1;
  const total = ctx.reduceSum(g!, [axis], true);
  return [ctx.op('Sub', [g!, ctx.mul(ctx.op('Exp', [y]), total)])];
};

export const softmaxRules: Record<string, GradientRule> = { Softmax: softmax, LogSoftmax: logSoftmax };
