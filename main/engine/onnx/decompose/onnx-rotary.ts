// ONNX-domain RotaryEmbedding (opset 23) in standard operators.
//
// Inputs: X [B, N, S, H] (4-D) or [B, S, N·H] (3-D, `num_heads` required); cos_cache/sin_cache [P, r/2] read at
// position_ids [B, S] when those are given, else already per token [B, S, r/2]. Attributes: interleaved (pairs
// 2i, 2i+1 instead of halves i, i + r/2), rotary_embedding_dim r (0: the whole head; channels r … H−1 pass
// through). The rotation itself is rotary.ts' applyRotary, shared with the com.microsoft operators.
import type { NodeProto } from '../proto';
import { Emit, intAttribute, optionalInput, staticLastDim, UnsupportedFusedOperatorError, type DecomposeContext, type DecomposeResult } from './common';
import { applyRotary, gatherCache } from './rotary';

/** Rank of X: declared, else 4 after a Transpose (BNSH) and 3 otherwise, as exporters write it. */
function rankOf(context: DecomposeContext, x: string): number {
  const declared = context.index.declaredDims(x);
  if (declared) return declared.length;
  return context.index.producer(x)?.node.opType === 'Transpose' ? 4 : 3;
}

export function decomposeOnnxRotaryEmbedding(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  const [x, cosCache, sinCache] = node.input;
  const positionIds = optionalInput(node, 3);
  const interleaved = intAttribute(node, 'interleaved', 0) === 1;
  const numHeads = intAttribute(node, 'num_heads', 0);
  const rank = rankOf(context, x);
  if (rank !== 3 && rank !== 4) throw new UnsupportedFusedOperatorError(node, `a ${rank}-D input`);
  if (rank === 3 && numHeads <= 0) throw new UnsupportedFusedOperatorError(node, 'a 3-D input without num_heads');

  const width = rank === 4 ? context.index.declaredDims(x)?.[3] : staticLastDim(context.index, x);
  const headDim = typeof width === 'number' ? (rank === 4 ? width : width / numHeads) : undefined;
  // rotary_embedding_dim 0 means the whole head; a constant cache tells its width when the head size is unknown.
  // Static widths keep slice bounds constant for the derivative graphs.
  const cacheDims = context.index.constantDims(cosCache);
  const cacheWidth = cacheDims?.[cacheDims.length - 1];
  const rotaryDim = intAttribute(node, 'rotary_embedding_dim', 0) || headDim || (cacheWidth !== undefined ? 2 * cacheWidth : undefined);
  if (rotaryDim !== undefined && headDim !== undefined && (rotaryDim > headDim || rotaryDim % 2 !== 0)) {
    throw new UnsupportedFusedOperatorError(node, `rotary_embedding_dim = ${rotaryDim} with head size ${headDim}`);
  }

  // Cache rows per token: [B, S, r/2].
  const cos = positionIds ? gatherCache(emit, cosCache, positionIds) : cosCache;
  const sin = positionIds ? gatherCache(emit, sinCache, positionIds) : sinCache;
  const options = { interleaved, rotaryDim, headDim };
  if (rank === 4) {
    // [B, N, S, H] against [B, 1, S, r/2].
    emit.rename(applyRotary(emit, x, emit.unsqueeze(cos, [1]), emit.unsqueeze(sin, [1]), options), node.output[0]);
    return {};
  }
  // [B, S, N·H] → [B, S, N, H] against [B, S, 1, r/2], and back.
  const heads = b.op('Reshape', [x, b.int64([0, 0, numHeads, -1])]);
  const rotated = applyRotary(emit, heads, emit.unsqueeze(cos, [2]), emit.unsqueeze(sin, [2]), options);
  b.ops('Reshape', [rotated, b.int64([0, 0, -1])], {}, { outputNames: [node.output[0]] });
  return {};
}
