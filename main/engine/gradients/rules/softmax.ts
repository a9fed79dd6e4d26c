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
  const attention = attentionProduct(ctx, y, axis);
  if (attention && attention.headDim <= AUGMENTED_MAX_HEAD_DIM) return [ctx.mul(y, augmentedShift(ctx, attention, axis))];
  const weighted = attention?.rowSums ?? ctx.reduceSum(ctx.mul(g!, y), [axis], true);
  return [ctx.mul(y, ctx.op('Sub', [g!, weighted]))];
};

/**
 * Head sizes up to which g − D is one augmented MatMul (below). Measured: 15% faster reverse passes with head_dim
 * 16 (demo model), 4% slower with 64 (bench model: the 65th contracted column costs the GEMM more than the
 * subtraction pass it saves).
 */
const AUGMENTED_MAX_HEAD_DIM = 32;

interface AttentionProduct {
  /** D = Σ_j g_ij P_ij, computed as dO_i · O_i. */
  rowSums: string;
  dOutput: string;
  values: string;
  valuesShape: number[];
  headDim: number;
}

/**
 * Attention probabilities y = P whose only consumer is O = P·V: then g = dO·Vᵀ and Σ_j g_ij P_ij = dO_i · Σ_j P_ij V_j
 * = dO_i · O_i =: D_i, a sum over the head dimension instead of the key axis (for R cotangent rows, two passes
 * over [R, heads, T, head_dim] instead of two over [R, heads, T, T]).
 */
function attentionProduct(ctx: RuleContext, y: string, axis: number): AttentionProduct | undefined {
  const consumers = ctx.tools.consumers.get(y) ?? [];
  const product = consumers[0];
  if (consumers.length !== 1 || product.opType !== 'MatMul' || product.input[0] !== y || product.input[1] === y) return undefined;
  const yShape = ctx.shape(y);
  const [output, values] = [product.output[0], product.input[1]];
  const [oShape, valuesShape] = [ctx.shape(output), ctx.shape(values)];
  // The softmax axis must be the contracted one, with no batch broadcasting between P and O.
  if (axis !== yShape.length || oShape.length !== yShape.length || valuesShape.length < 2 || yShape.slice(0, -1).some((d, i) => d !== oShape[i])) return undefined;
  const dOutput = ctx.cotangentOf(output);
  if (!dOutput) return undefined;
  const rowSums = ctx.reduceSum(ctx.mul(dOutput, output), [axis], true);
  return { rowSums, dOutput, values, valuesShape, headDim: valuesShape.at(-1)! };
}

/**
 * g − D = [dO, −D] · [V, 1]ᵀ: one MatMul with one more contracted column replaces the product dO·Vᵀ and the
 * subtraction, two passes over [R, heads, T, T] (the MatMul rule's own dO·Vᵀ is then unused and pruned).
 */
function augmentedShift(ctx: RuleContext, attention: AttentionProduct, axis: number): string {
  const { rowSums, dOutput, values, valuesShape } = attention;
  const augmentedGrad = ctx.op('Concat', [dOutput, ctx.op('Neg', [rowSums])], { axis });
  const ones = ctx.op('Expand', [ctx.constant(1, values, [1]), ctx.ints([...valuesShape.slice(0, -1), 1])]);
  const augmentedValues = ctx.op('Concat', [values, ones], { axis: valuesShape.length - 1 });
  const perm = valuesShape.map((_, i) => i);
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
