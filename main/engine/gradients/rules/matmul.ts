// MatMul and Gemm. For y = a·b: da = g·bᵀ, db = aᵀ·g, each summed over batch axes that broadcasting stretched.
// The cotangent's leading target axis rides along as one more batch axis of the MatMul.
import { DataType } from '../../onnx/proto';
import type { GradientRule, RuleContext } from './context';

/** Swaps the last two axes of a forward tensor of the given rank. */
function transposeLast(ctx: RuleContext, x: string, rank: number, extraLeading = 0): string {
  const total = rank + extraLeading;
  const perm = Array.from({ length: total }, (_, i) => i);
  [perm[total - 2], perm[total - 1]] = [perm[total - 1], perm[total - 2]];
  return ctx.op('Transpose', [x], { perm });
}

export const MS_DOMAIN = 'com.microsoft';

/**
 * Whether `g · bᵀ` reads the weight matrix `b` in place (FusedMatMul, transB) rather than through a Transpose that
 * onnxruntime folds into a private transposed copy of the weights in every reverse session (0.7 GB at 246 M
 * parameters). float32 only: FusedMatMul has no float64 kernel on CPU. Measured at T = 1,024 on [2816, 1024] weights:
 * no slower than MatMul on the folded copy (1.84 s against 1.92–2.43 s for six products, load average 16).
 */
function weightTransposedInPlace(ctx: RuleContext, b: string, bShape: number[]): boolean {
  return bShape.length === 2 && ctx.tools.initializers.get(b)?.dataType === DataType.FLOAT;
}

/**
 * MatMul with numpy's 1-D rules: a vector a [K] acts as [1, K] and b [K] as [K, 1], and the added axis is
 * dropped from the result. The rule works on those promoted views (Reshapes of the forward tensors and of the
 * cotangent) and reshapes the input cotangents back to the vectors' shapes.
 */
const matmul: GradientRule = (ctx, [g]) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  const [aShape, bShape] = [ctx.shape(a), ctx.shape(b)];
  if (aShape.length === 0 || bShape.length === 0) ctx.fail('scalar MatMul operands are not allowed');
  const aVector = aShape.length === 1;
  const bVector = bShape.length === 1;
  if (!aVector && !bVector) return matmulPromoted(ctx, g!, a, b, aShape, bShape, ctx.shape(ctx.output(0)));
  const aFull = aVector ? [1, aShape[0]] : aShape;
  const bFull = bVector ? [bShape[0], 1] : bShape;
  const yFull = [...broadcastBatch(ctx, aFull.slice(0, -2), bFull.slice(0, -2)), aFull.at(-2)!, bFull.at(-1)!];
  const aView = aVector ? ctx.op('Reshape', [a, ctx.ints(aFull)]) : a;
  const bView = bVector ? ctx.op('Reshape', [b, ctx.ints(bFull)]) : b;
  const [da, db] = matmulPromoted(ctx, ctx.reshape(g!, yFull), aView, bView, aFull, bFull, yFull);
  return [da && aVector ? ctx.reshape(da, aShape) : da, db && bVector ? ctx.reshape(db, bShape) : db];
};

/** Broadcast shape of two batch-shape prefixes. */
function broadcastBatch(ctx: RuleContext, x: number[], y: number[]): number[] {
  const rank = Math.max(x.length, y.length);
  return Array.from({ length: rank }, (_, i) => {
    const p = x[i - (rank - x.length)] ?? 1;
    const q = y[i - (rank - y.length)] ?? 1;
    if (p !== q && p !== 1 && q !== 1) ctx.fail(`batch shapes [${x}] and [${y}] do not broadcast`);
    return p === 1 ? q : p;
  });
}

/** The rule for operands of rank ≥ 2 (`g` has shape [R, ...yShape]). */
function matmulPromoted(
  ctx: RuleContext,
  g: string,
  a: string,
  b: string,
  aShape: number[],
  bShape: number[],
  yShape: number[],
): (string | undefined)[] {
  let da: string | undefined;
  let db: string | undefined;
  if (ctx.needs(0)) {
    // g [R, ..., M, N] · bᵀ [..., N, K] → [R, ..., M, K]; batch axes of y that a lacks or had as 1 are summed.
    const product = weightTransposedInPlace(ctx, b, bShape) ? ctx.op('FusedMatMul', [g, b], { transB: 1 }, MS_DOMAIN) : ctx.op('MatMul', [g, transposeLast(ctx, b, bShape.length)]);
    da = ctx.reduceTo(product, [...yShape.slice(0, -2), aShape.at(-2)!, aShape.at(-1)!], aShape);
  }
  if (ctx.needs(1)) {
    const [k, n] = [bShape.at(-2)!, bShape.at(-1)!];
    if (bShape.length === 2 && aShape.length > 2) {
      // A shared weight matrix: fold every batch row of a into one contraction, [K, rows]·[R, rows, N] → [R, K, N].
      const rows = ctx.op('Reshape', [a, ctx.ints([-1, k])]);
      const flatGrad = ctx.op('Reshape', [g, ctx.ints([0, -1, n])]);
      db = ctx.op('MatMul', [ctx.op('Transpose', [rows], { perm: [1, 0] }), flatGrad]);
    } else {
      const product = ctx.op('MatMul', [transposeLast(ctx, a, aShape.length), g]);
      db = ctx.reduceTo(product, [...yShape.slice(0, -2), k, n], bShape);
    }
  }
  return [da, db];
}

// Gemm: y = alpha·op(a)·op(b) + beta·c on 2-D operands, op = optional transpose.
const gemm: GradientRule = (ctx, [g]) => {
  const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.node.input[2]];
  const alpha = ctx.attribute('alpha', 1.0);
  const beta = ctx.attribute('beta', 1.0);
  const transA = ctx.attribute('transA', 0) === 1;
  const transB = ctx.attribute('transB', 0) === 1;
  const scaled = alpha === 1 ? g! : ctx.mul(g!, ctx.constant(alpha, a, []));
  let da: string | undefined;
  let db: string | undefined;
  let dc: string | undefined;
  if (ctx.needs(0)) {
    // d op(a) = g·op(b)ᵀ, where op(b)ᵀ is b itself when transB, else bᵀ.
    const opBT = transB ? b : ctx.op('Transpose', [b], { perm: [1, 0] });
    const dOpA = ctx.op('MatMul', [scaled, opBT]);
    da = transA ? transposeLast(ctx, dOpA, 2, 1) : dOpA;
  }
  if (ctx.needs(1)) {
    const opAT = transA ? a : ctx.op('Transpose', [a], { perm: [1, 0] });
    const dOpB = ctx.op('MatMul', [opAT, scaled]);
    db = transB ? transposeLast(ctx, dOpB, 2, 1) : dOpB;
  }
  if (c && ctx.needs(2)) {
    const g2 = beta === 1 ? g! : ctx.mul(g!, ctx.constant(beta, c, []));
    dc = ctx.reduceTo(g2, ctx.shape(ctx.output(0)), ctx.shape(c));
  }
  return [da, db, dc];
};

export const matmulRules: Record<string, GradientRule> = { MatMul: matmul, Gemm: gemm };
