// Rotary position embedding (RoPE, Su et al. 2021, arXiv:2104.09864) in standard operators, and the
// decomposition of com.microsoft.RotaryEmbedding and ONNX RotaryEmbedding (opset 23).
//
// With r = rotary dimension (2 × the cache width), h = r/2 and (cos, sin) the cache rows of each position:
//   halves (interleaved = 0):   y[i] = x[i]·cos[i] − x[i+h]·sin[i],   y[i+h] = x[i+h]·cos[i] + x[i]·sin[i]   (i < h)
//   pairs  (interleaved = 1):   y[2i] = x[2i]·cos[i] − x[2i+1]·sin[i], y[2i+1] = x[2i+1]·cos[i] + x[2i]·sin[i]
// Channels r … headDim−1 pass through unchanged (partial rotary).
import type { NodeProto } from '../proto';
import {
  Emit,
  INT64_MAX,
  intAttribute,
  optionalInput,
  UnsupportedFusedOperatorError,
  type DecomposeContext,
  type DecomposeResult,
} from './common';

export interface RotaryOptions {
  interleaved: boolean;
  /** Rotary width r: a constant, or undefined to take 2 × the cache width at run time. */
  rotaryDim?: number;
  /** Head size, when known: lets the pass-through slice be skipped when r equals it. */
  headDim?: number;
}

/**
 * Rotates the last axis of `x` (any rank ≥ 2, head channels last). `cos`/`sin` must broadcast against
 * `x[..., :r/2]`, e.g. x [B, N, S, D] with cos [B or 1, 1, S, r/2].
 */
export function applyRotary(emit: Emit, x: string, cos: string, sin: string, options: RotaryOptions): string {
  const b = emit.b;
  let half: number[] | string;
  let full: number[] | string;
  if (options.rotaryDim !== undefined) {
    half = [options.rotaryDim / 2];
    full = [options.rotaryDim];
  } else {
    half = emit.dims(cos, -1);
    full = b.op('Mul', [half, b.int64([2])]);
  }
  const partial = options.rotaryDim === undefined || options.headDim === undefined || options.rotaryDim < options.headDim;
  const rotated = partial ? emit.slice(x, [0], full, [-1]) : x;
  let result: string;
  if (!options.interleaved) {
    const x1 = emit.slice(rotated, [0], half, [-1]);
    const x2 = emit.slice(rotated, half, full, [-1]);
    const first = b.op('Sub', [b.op('Mul', [x1, cos]), b.op('Mul', [x2, sin])]);
    const second = b.op('Add', [b.op('Mul', [x2, cos]), b.op('Mul', [x1, sin])]);
    result = b.op('Concat', [first, second], { axis: -1 });
  } else {
    // [..., r] → [..., r/2, 2]: pairs on the new last axis.
    const shape = b.op('Concat', [emit.dims(rotated, 0, -1), b.int64([-1, 2])], { axis: 0 });
    const pairs = b.op('Reshape', [rotated, shape]);
    const [x1, x2] = emit.split(pairs, [1, 1], -1, 2);
    const cos5 = emit.unsqueeze(cos, [-1]);
    const sin5 = emit.unsqueeze(sin, [-1]);
    const first = b.op('Sub', [b.op('Mul', [x1, cos5]), b.op('Mul', [x2, sin5])]);
    const second = b.op('Add', [b.op('Mul', [x2, cos5]), b.op('Mul', [x1, sin5])]);
    const joined = b.op('Concat', [first, second], { axis: -1 });
    result = b.op('Reshape', [joined, b.op('Shape', [rotated])]);
  }
  if (!partial) return result;
  const rest = emit.slice(x, full, [INT64_MAX], [-1]);
  return b.op('Concat', [result, rest], { axis: -1 });
}

/** Cache rows for positions: Gather(cache, positions) → [..positions dims.., r/2]. */
export function gatherCache(emit: Emit, cache: string, positions: string): string {
  return emit.b.op('Gather', [cache, positions], { axis: 0 });
}

/** Rank of a rotary input: declared, or 4 when it comes from a Transpose (BNSH), else 3. */
function inputRank(context: DecomposeContext, x: string): number {
  const declared = context.index.declaredDims(x);
  if (declared) return declared.length;
  const producer = context.index.producer(x)?.node;
  return producer?.opType === 'Transpose' ? 4 : 3;
}

/**
 * com.microsoft.RotaryEmbedding's position_ids as [B or 1, S] rows. The operator takes either [B, S] positions or
 * the 1-D offset form [1] (one start position p for every sequence: p, p+1, …, p+S−1). Exports that compute the
 * offset from attention_mask inside the graph declare no shape for it, so when the rank is not known statically
 * both forms are handled at run time: P is reshaped to [P.dim0, −1] and range(S)·[rank(P) = 1] is added
 * ([1, 1] + [S] → [1, S]; [B, S] + 0 → [B, S]).
 */
function microsoftPositions(emit: Emit, context: DecomposeContext, positionIds: string, sequence: string): string {
  const b = emit.b;
  const range = () => b.op('Range', [b.int64(0, []), emit.squeeze(sequence, [0]), b.int64(1, [])]);
  const rank = (context.index.declaredDims(positionIds) ?? context.index.constantDims(positionIds))?.length;
  if (rank === 2) return positionIds;
  if (rank === 1) return emit.unsqueeze(b.op('Add', [range(), positionIds]), [0]);
  const rows = b.op('Reshape', [positionIds, b.op('Concat', [emit.dims(positionIds, 0, 1), b.int64([-1])], { axis: 0 })]);
  const isOffset = b.op('Cast', [b.op('Equal', [b.op('Size', [b.op('Shape', [positionIds])]), b.int64(1, [])])], { to: 7 });
  return b.op('Add', [rows, b.op('Mul', [range(), isOffset])]);
}

/** com.microsoft.RotaryEmbedding (input, position_ids, cos_cache, sin_cache) and ONNX RotaryEmbedding (X, cos_cache, sin_cache, position_ids?). */
export function decomposeRotaryEmbedding(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const microsoft = node.domain === 'com.microsoft';
  const x = node.input[0];
  const positionIds = microsoft ? optionalInput(node, 1) : optionalInput(node, 3);
  const cosCache = microsoft ? node.input[2] : node.input[1];
  const sinCache = microsoft ? node.input[3] : node.input[2];
  if (microsoft && intAttribute(node, 'is_packed_batching', 0)) throw new UnsupportedFusedOperatorError(node, 'is_packed_batching = 1');
  const interleaved = intAttribute(node, 'interleaved', 0) === 1;
  const numHeads = intAttribute(node, 'num_heads', 0);
  const cacheDims = context.index.constantDims(cosCache);
  const cacheWidth = cacheDims?.[cacheDims.length - 1];
  const rotaryDim = intAttribute(node, 'rotary_embedding_dim', 0) || (cacheWidth !== undefined ? cacheWidth * 2 : undefined);
  const rank = inputRank(context, x);

  // Positions → cache rows [B or 1, S, r/2].
  let cos = cosCache;
  let sin = sinCache;
  if (positionIds) {
    let positions = positionIds;
    if (microsoft) positions = microsoftPositions(emit, context, positionIds, emit.dim(x, rank === 4 ? 2 : 1));
    cos = gatherCache(emit, cosCache, positions);
    sin = gatherCache(emit, sinCache, positions);
  }

  let rotatedInput: string;
  if (rank === 4) {
    // [B, N, S, D] with cache rows [B, S, r/2] → [B, 1, S, r/2].
    const out = applyRotary(emit, x, emit.unsqueeze(cos, [1]), emit.unsqueeze(sin, [1]), { interleaved, rotaryDim });
    emit.rename(out, node.output[0]);
    return {};
  }
  // [B, S, hidden] → [B, S, N, D], cache rows [B, S, 1, r/2].
  let heads: string;
  if (numHeads > 0) heads = b.int64([0, 0, numHeads, -1]);
  else if (rotaryDim !== undefined) heads = b.int64([0, 0, -1, rotaryDim]);
  else throw new UnsupportedFusedOperatorError(node, 'a 3-D input without num_heads and without a constant cos cache');
  rotatedInput = b.op('Reshape', [x, heads]);
  const out = applyRotary(emit, rotatedInput, emit.unsqueeze(cos, [2]), emit.unsqueeze(sin, [2]), { interleaved, rotaryDim });
  b.ops('Reshape', [out, b.int64([0, 0, -1])], {}, { outputNames: [node.output[0]] });
  return {};
}
