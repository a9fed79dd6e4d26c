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

/** Where a sliced axis starts in the input, with ONNX's clamping (which differs for negative steps). */
function sliceStart(start: number, step: number, dim: number): number {
  const value = start < 0 ? start + dim : start;
  return step > 0 ? Math.min(Math.max(value, 0), dim) : Math.min(Math.max(value, 0), dim - 1);
}

/**
 * Backward of a strided slice along one axis of the cotangent: output element j came from input index
 * start + j·step, and every other input index gets zero. Written as a Gather from the cotangent with one zero
 * slot padded at the end, so the index list is a constant and one graph serves any R.
 */
function unstride(ctx: RuleContext, grad: string, axis: number, inputDim: number, outputDim: number, start: number, step: number): string {
  const source = new Array<number>(inputDim).fill(outputDim);
  for (let j = 0; j < outputDim; j++) {
    const index = start + j * step;
    if (index < 0 || index >= inputDim) ctx.fail(`slice index ${index} on axis ${axis} falls outside the input (size ${inputDim})`);
    source[index] = j;
  }
  const rank = ctx.shape(ctx.output(0)).length;
  const after = Array.from({ length: rank + 1 }, (_, a) => (a === axis + 1 ? 1 : 0));
  const pads = [...new Array<number>(rank + 1).fill(0), ...after];
  const padded = ctx.opset >= 11 ? ctx.op('Pad', [grad, ctx.ints(pads)], { mode: 'constant' }) : ctx.op('Pad', [grad], { mode: 'constant', pads });
  return ctx.op('Gather', [padded, ctx.ints(source)], { axis: axis + 1 });
}

const slice: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const shape = ctx.shape(ctx.input(0));
  const outShape = ctx.shape(ctx.output(0));
  const { starts, axes, steps } = sliceParameters(ctx);
  const before = shape.map(() => 0);
  const after = shape.map(() => 0);
  const strided: { axis: number; start: number; step: number }[] = [];
  axes.forEach((axis, i) => {
    const step = steps[i];
    if (!Number.isInteger(step) || step === 0) ctx.fail(`step ${step} on axis ${axis} is not a non-zero integer`);
    const start = sliceStart(starts[i], step, shape[axis]);
    if (step !== 1) {
      strided.push({ axis, start, step });
      return;
    }
    before[axis] = start;
    after[axis] = shape[axis] - start - outShape[axis];
  });
  // Strided axes first (they grow an axis from the output's size to the input's), then one Pad for the rest.
  let grad = g!;
  const current = outShape.slice();
  for (const { axis, start, step } of strided) {
    grad = unstride(ctx, grad, axis, shape[axis], current[axis], start, step);
    current[axis] = shape[axis];
  }
  return [padInto(ctx, grad, shape, before, after)];
};

// Tile: output block k along an axis is a copy of the input, so the cotangent viewed as
// [R, reps0, d0, reps1, d1, …] is summed over the reps axes. Repeats come from the probed shapes.
const tile: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined, undefined];
  const shape = ctx.shape(ctx.input(0));
  const outShape = ctx.shape(ctx.output(0));
  if (shape.includes(0) || outShape.includes(0)) ctx.fail(`zero-sized input [${shape}] or output [${outShape}]`);
  const reps = outShape.map((size, axis) => size / shape[axis]);
  if (reps.some((r) => !Number.isInteger(r))) ctx.fail(`output shape [${outShape}] is not a whole multiple of input shape [${shape}]`);
  if (reps.every((r) => r === 1)) return [g, undefined];
  const blocks = ctx.reshape(g!, shape.flatMap((dim, axis) => [reps[axis], dim]));
  const summed = ctx.reduceSum(blocks, shape.map((_, axis) => 2 * axis + 1), false);
  return [summed, undefined];
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
  Tile: tile,
};
