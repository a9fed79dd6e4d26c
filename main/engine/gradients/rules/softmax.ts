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
  const weighted = ctx.reduceSum(ctx.mul(g!, y), [axis], true);
  return [ctx.mul(y, ctx.op('Sub', [g!, weighted]))];
};

const logSoftmax: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const y = ctx.output(0);
  const axis = softmaxAxis(ctx) + 1;
  const total = ctx.reduceSum(g!, [axis], true);
  return [ctx.op('Sub', [g!, ctx.mul(ctx.op('Exp', [y]), total)])];
};

export const softmaxRules: Record<string, GradientRule> = { Softmax: softmax, LogSoftmax: logSoftmax };
