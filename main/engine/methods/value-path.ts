// Finds, by graph structure, what follows an attention block's probabilities: the value tensor they weight
// (P · V, after KV-head repetition and with the v projection's bias already added), the output projection that
// reads the merged heads, and the residual sums around the block. Attention norm (attention-norm.ts) needs the
// value and the projection; value zeroing (value-zeroing.ts) needs the value and the layer's output.
//
// Expected shape, as optimum exports, our builder and decompose/attention-core write it:
//   context = MatMul(P, V)            P [B, H, S, T], V [B, H, T, D]
//   merged  = Reshape(Transpose(context, perm [0, 2, 1, 3]), [B, S, H·D])
//   out     = MatMul(merged, W_o) | Gemm | com.microsoft MatMulNBits     (optionally + bias)
//   mid     = Add(residual, out)                                         (the attention residual)
//   layer   = Add(mid, mlp(mid))                                         (the block's output)
import type { GraphIndex } from '../onnx/graph-index';
import { attributeValue, type NodeProto } from '../onnx/proto';

export interface ValuePath {
  /** The P · V MatMul and its value input. */
  context: NodeProto;
  value: string;
  /** The output projection node; its input 0 reads the merged heads. */
  projection: NodeProto;
  /** Constant weight [H·D, hidden] of a plain MatMul projection; undefined for Gemm / MatMulNBits (cloned instead). */
  weight?: string;
}

/** Projection operators the merged heads may enter. */
const PROJECTIONS = new Set(['MatMul', 'Gemm', 'MatMulNBits']);

/** The value path of one attention site, or a one-line reason why it was not found. */
export function findValuePath(index: GraphIndex, probabilities: string): ValuePath | string {
  const readers = index.consumers(probabilities).filter((c) => c.node.opType === 'MatMul' && c.input === 0);
  if (readers.length !== 1) return `the probabilities ${probabilities} are not read by exactly one MatMul(P, V)`;
  const context = readers[0].node;
  const value = context.input[1];
  let tensor = context.output[0];
  let headsMoved = false;
  for (let step = 0; step < 6; step++) {
    const next = index.consumers(tensor);
    if (next.length !== 1) return `the attention context ${tensor} has ${next.length} readers, expected one chain to the output projection`;
    const node = next[0].node;
    if (node.opType === 'Transpose') {
      const perm = attributeValue(node, 'perm');
      if (JSON.stringify(perm) !== '[0,2,1,3]') return `the attention context goes through Transpose(perm ${JSON.stringify(perm)}), expected [0,2,1,3]`;
      headsMoved = true;
    } else if (node.opType !== 'Reshape') {
      if (!PROJECTIONS.has(node.opType) || next[0].input !== 0) return `the attention context reaches ${node.opType} ${node.name}, not an output projection (MatMul, Gemm, MatMulNBits)`;
      if (!headsMoved) return `the attention context reaches the output projection without merging heads (Transpose perm [0,2,1,3])`;
      if (node.opType === 'Gemm' && attributeValue(node, 'transA') === 1) return `the output projection Gemm ${node.name} transposes its input`;
      const weight = node.opType === 'MatMul' && index.isConstant(node.input[1]) ? node.input[1] : undefined;
      if (node.opType === 'MatMul' && !weight) return `the output projection MatMul ${node.name} has no constant weight`;
      return { context, value, projection: node, weight };
    }
    tensor = node.output[0];
  }
  return `no output projection within 6 steps of the attention context ${context.output[0]}`;
}

/**
 * The block's output (the residual stream after attention and MLP) that follows an output projection, or a
 * one-line reason. Walks: projection → optional bias Add (constant operand) → residual Add → the Add that adds
 * the MLP's output to that residual.
 */
export function findLayerOutput(index: GraphIndex, projection: NodeProto): { output: string } | string {
  let tensor = projection.output[0];
  const only = (t: string) => {
    const readers = index.consumers(t);
    return readers.length === 1 ? readers[0].node : undefined;
  };
  let node = only(tensor);
  if (node?.opType === 'Add' && node.input.some((input) => index.isConstant(input))) {
    tensor = node.output[0];
    node = only(tensor);
  }
  if (node?.opType !== 'Add') return `the output projection ${projection.name} is not followed by a residual Add (fused residual norms are not supported)`;
  const middle = node.output[0];
  const adds = index.consumers(middle).filter((c) => c.node.opType === 'Add' && c.node.domain === '');
  if (adds.length !== 1) return `the attention residual ${middle} is read by ${adds.length} Add nodes, expected the MLP's residual Add`;
  return { output: adds[0].node.output[0] };
}
