// Operators that pass values through or add several inputs.
import type { GradientRule } from './context';

// Sum(x1, …, xn) with broadcasting: every input gets the cotangent, summed to its shape.
const sum: GradientRule = (ctx, [g]) =>
  ctx.node.input.map((input, index) => (ctx.needs(index) ? ctx.reduceTo(g!, ctx.shape(ctx.output(0)), ctx.shape(input)) : undefined));

// Dropout at inference is the identity (its mask output is not differentiable).
const dropout: GradientRule = (ctx, [g]) => [ctx.needs(0) ? g : undefined];

export const miscRules: Record<string, GradientRule> = { Sum: sum, Dropout: dropout };
