// Operators that move values without changing them: their derivatives move the cotangent back. Shapes come from
// the probe, so every rule works with concrete sizes.
import { DataType } from '../../onnx/proto';
import type { GradientRule, RuleContext } from './context';

const product = (dims: number[]) => dims.reduce((n, d) => n * d, 1);

// Reshape, Flatten, Squeeze, Unsqueeze: same values, the input's shape back.
const reshapeBack: GradientRule = (ctx, [g]) => [ctx.needs(0) ? ctx.reshape(g!, ctx.shape(ctx.input(0))) : undefined];

const transpose: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const rank = ctx.shape(ctx.input(0)).length;
  const perm = ctx.attribute('perm', Array.from({ length: rank }, (_, i) => rank - 1 - i));
  const inverse = new Array<number>(rank);
  perm.forEach((source, target) => (inverse[source] = target));
  return [ctx.op('Transpose', [g!], { perm: [0, ...inverse.map((axis) => axis + 1)] })];
};

/** Places a cotangent into a zero cotangent of the input's shape (Pad along the given input axes). */
function padInto(ctx: RuleContext, grad: string, inputShape: number[], before: number[], after: number[]): string {
  if (before.every((v) => v === 0) && after.every((v) => v === 0)) return grad;
  const pads = [0, ...before, 0, ...after];
  if (ctx.opset >= 11) return ctx.op('Pad', [grad, ctx.ints(pads)], { mode: 'constant' });
  return ctx.op('Pad', [grad], { mode: 'constant', pads });
}

function sliceParameters(ctx: RuleContext): { starts: number[]; ends: number[]; axes: number[]; steps: number[] } {
  const rank = ctx.shape(ctx.input(0)).length;
  const read = (index: number, attribute: string): number[] | undefined => {
    if (ctx.opset < 10) {
      const value = ctx.attribute(attribute, []);
      return value.length ? value : undefined;
    }
    const name = ctx.node.input[index];
    if (!name) return undefined;
    const values = ctx.tools.constantNumbers(name);
    if (!values) ctx.fail(`${attribute} must be constant`);
    return values;
  };
  const starts = read(1, 'starts')!;
  const ends = read(2, 'ends')!;
  const axes = (read(3, 'axes') ?? starts.map((_, i) => i)).map((axis) => ctx.axis(axis, rank));
  const steps = read(4, 'steps') ?? starts.map(() => 1);
  return { starts, ends, axes, steps };
}

const slice: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const shape = ctx.shape(ctx.input(0));
  const outShape = ctx.shape(ctx.output(0));
  const { starts, ends, axes, steps } = sliceParameters(ctx);
  const before = shape.map(() => 0);
  const after = shape.map(() => 0);
  axes.forEach((axis, i) => {
    if (steps[i] !== 1) ctx.fail(`step ${steps[i]} on axis ${axis} (only step 1 is supported)`);
    const dim = shape[axis];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const start = clamp(starts[i]);
    before[axis] = start;
    after[axis] = dim - start - outShape[axis];
  });
  return [padInto(ctx, g!, shape, before, after)];
};

const concat: GradientRule = (ctx, [g]) => {
  const outShape = ctx.shape(ctx.output(0));
  const axis = ctx.axis(ctx.attribute('axis', 0), outShape.length);
  let offset = 0;
  return ctx.node.input.map((input, index) => {
    const size = ctx.shape(input)[axis];
    const start = offset;
    offset += size;
    if (!ctx.needs(index)) return undefined;
    return ctx.op('Slice', [g!, ctx.ints([start]), ctx.ints([start + size]), ctx.ints([axis + 1])]);
  });
};

const split: GradientRule = (ctx, grads) => {
  if (!ctx.needs(0)) return [undefined];
  const shape = ctx.shape(ctx.input(0));
  const axis = ctx.axis(ctx.attribute('axis', 0), shape.length);
  let offset = 0;
  const pieces: string[] = [];
  ctx.node.output.forEach((output, index) => {
    const size = ctx.shape(output)[axis];
    const grad = grads[index];
    if (grad) {
      const before = shape.map((_, a) => (a === axis ? offset : 0));
      const after = shape.map((dim, a) => (a === axis ? dim - offset - size : 0));
      pieces.push(padInto(ctx, grad, shape, before, after));
    }
    offset += size;
  });
  return [pieces.length === 1 ? pieces[0] : ctx.op('Sum', pieces)];
};

// Gather(data, indices, axis): scatter-add the cotangent back, written as a one-hot matrix product so it works
// in every opset and sums repeated indices: [R, pre, n, post] ← onehotᵀ[D, n] · g.
const gather: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const [data, indices] = [ctx.input(0), ctx.input(1)];
  const shape = ctx.shape(data);
  const axis = ctx.axis(ctx.attribute('axis', 0), shape.length);
  const count = product(ctx.shape(indices));
  const depth = shape[axis];
  const pre = product(shape.slice(0, axis));
  const post = product(shape.slice(axis + 1));
  const flatGrad = ctx.op('Reshape', [g!, ctx.ints([-1, pre, count, post])]);
  const index64 = ctx.op('Cast', [indices], { to: DataType.INT64 });
  const column = ctx.op('Mod', [ctx.op('Reshape', [index64, ctx.ints([count, 1])]), ctx.b.int64(depth, [], 'grad_depth')]);
  const range = ctx.ints(Array.from({ length: depth }, (_, i) => i));
  const oneHot = ctx.op('Cast', [ctx.op('Equal', [column, range])], { to: ctx.elemType(data) });
  const scattered = ctx.op('MatMul', [ctx.op('Transpose', [oneHot], { perm: [1, 0] }), flatGrad]);
  return [ctx.reshape(scattered, shape), undefined];
};

const expand: GradientRule = (ctx, [g]) => [
  ctx.needs(0) ? ctx.reduceTo(g!, ctx.shape(ctx.output(0)), ctx.shape(ctx.input(0))) : undefined,
  undefined,
];

export const shapeRules: Record<string, GradientRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Slice: slice,
  Concat: concat,
  Split: split,
  Gather: gather,
  Expand: expand,
};
