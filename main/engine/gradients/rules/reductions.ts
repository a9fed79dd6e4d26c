// ReduceSum and ReduceMean: the cotangent is spread back over the reduced axes (divided by the count for means).
import type { GradientRule, RuleContext } from './context';

/** Reduced axes of the forward node (attribute form before opset 13/18, input form after), normalised. */
function reducedAxes(ctx: RuleContext): number[] {
  const rank = ctx.shape(ctx.input(0)).length;
  const axesInput = ctx.node.input[1];
  let axes: number[] | undefined;
  if (axesInput) {
    axes = ctx.tools.constantNumbers(axesInput);
    if (!axes) ctx.fail('reduction axes must be constant');
  } else {
    const attribute = ctx.attribute('axes', []);
    axes = attribute.length > 0 ? attribute : undefined;
  }
  if (!axes || axes.length === 0) {
    if (ctx.attribute('noop_with_empty_axes', 0) === 1) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((axis) => ctx.axis(axis, rank)).sort((p, q) => p - q);
}

function spread(mean: boolean): GradientRule {
  return (ctx, [g]) => {
    if (!ctx.needs(0)) return [undefined];
    const x = ctx.input(0);
    const shape = ctx.shape(x);
    const axes = reducedAxes(ctx);
    if (axes.length === 0) return [g];
    // Bring the cotangent to keepdims form, then broadcast it over the input's shape.
    const kept = shape.map((dim, axis) => (axes.includes(axis) ? 1 : dim));
    const keptGrad = ctx.attribute('keepdims', 1) === 1 ? g! : ctx.reshape(g!, kept);
    const scaled = mean ? ctx.mul(keptGrad, ctx.constant(1 / axes.reduce((n, axis) => n * shape[axis], 1), x, [])) : keptGrad;
    return [ctx.op('Expand', [scaled, ctx.ints([1, ...shape])])];
  };
}

export const reductionRules: Record<string, GradientRule> = {
  ReduceSum: spread(false),
  ReduceMean: spread(true),
};
