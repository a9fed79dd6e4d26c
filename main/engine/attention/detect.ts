// Finds the attention probabilities of a decoder graph by structure, not by names: a Softmax over the last axis
// whose input comes — through mask additions, scaling, Where, casts and reshapes — from a MatMul of two
// activations (Q · Kᵀ). Projection MatMuls have a constant operand and are never taken for Q · Kᵀ, so other
// softmaxes (mixture-of-experts routers, output heads) are not picked up.
import { GraphIndex } from '../onnx/graph-index';
import { attributeValue, type GraphProto, type NodeProto } from '../onnx/proto';

/** One attention block: where its probabilities are and what entered its score MatMul. */
export interface AttentionSite {
  /** The Softmax node and its output [batch, heads, query, key] (or [batch·heads, query, key]). */
  softmax: NodeProto;
  probabilities: string;
  /** The Q · Kᵀ MatMul (or com.microsoft FusedMatMul) and its two inputs. */
  scores: NodeProto;
  query: string;
  key: string;
  /** Whether `key` is already transposed ([.., D, T]); false for FusedMatMul with transB = 1. */
  keyTransposed: boolean;
  /** Position of the Softmax in topological order: sites are sorted by it, i.e. by layer. */
  order: number;
}

/** Ops the walk from a Softmax back to Q · Kᵀ may pass through. */
export const SCORE_PATH_OPS: ReadonlySet<string> = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Where',
  'Cast',
  'Reshape',
  'Transpose',
  'Identity',
  'Squeeze',
  'Unsqueeze',
  'Expand',
  'Tanh',
  'Min',
  'Max',
  'Clip',
]);

const SCORE_MATMULS = ['MatMul', 'FusedMatMul'];
const MAX_DEPTH = 8;

/** Thrown when a graph has no recognisable attention; the message says what was searched. */
export class AttentionNotFoundError extends Error {
  readonly code = 'attention_not_found';
  constructor(detail: string) {
    super(
      `no attention probabilities found: searched for Softmax(axis=-1) nodes whose input comes from MatMul(Q, Kᵀ) of two ` +
        `non-constant tensors through ${[...SCORE_PATH_OPS].join('/')} (at most ${MAX_DEPTH} steps), and for the fused ` +
        `operators com.microsoft GroupQueryAttention/MultiHeadAttention/Attention and ONNX Attention; ${detail}. ` +
        `Use manual mode (query/key projection name patterns, e.g. q_proj and k_proj) for this model.`,
    );
    this.name = 'AttentionNotFoundError';
  }
}

function softmaxOnLastAxis(node: NodeProto, opset: number): boolean {
  const axis = attributeValue(node, 'axis');
  if (axis === undefined) return opset >= 13; // opset < 13 defaults to axis 1 (2-D coercion)
  return axis === -1 || axis === 3; // rank-4 [B, H, S, T] written with a positive axis
}

/** Walks upward from a Softmax input to a score MatMul; undefined when none is reachable. */
function findScoreMatMul(index: GraphIndex, start: string): NodeProto | undefined {
  const seen = new Set<string>();
  const queue: Array<{ tensor: string; depth: number }> = [{ tensor: start, depth: 0 }];
  while (queue.length > 0) {
    const { tensor, depth } = queue.shift()!;
    if (seen.has(tensor) || depth > MAX_DEPTH) continue;
    seen.add(tensor);
    const node = index.producer(tensor)?.node;
    if (!node) continue;
    if (SCORE_MATMULS.includes(node.opType)) {
      const activations = node.input.slice(0, 2).every((input) => input && !index.isConstant(input));
      if (activations) return node;
      continue; // a projection: this branch is not Q · Kᵀ
    }
    if (node.domain !== '' || !SCORE_PATH_OPS.has(node.opType)) continue;
    const inputs = node.opType === 'Where' ? node.input.slice(1) : ['Reshape', 'Expand', 'Squeeze', 'Unsqueeze', 'Clip'].includes(node.opType) ? node.input.slice(0, 1) : node.input;
    for (const input of inputs) if (input && !index.isConstant(input)) queue.push({ tensor: input, depth: depth + 1 });
  }
  return undefined;
}

/**
 * Attention sinks as decompose/attention-core writes them (GroupQueryAttention head_sink, smooth_softmax):
 * Softmax over [scores, sink column] on the last axis with the sink column sliced off again. The probabilities are
 * the Slice's output; the walk to Q · Kᵀ starts from the scores.
 */
function sinkColumn(index: GraphIndex, softmax: NodeProto): { scores: string; probabilities: string } | undefined {
  const concat = index.producer(softmax.input[0])?.node;
  const axis = concat ? attributeValue(concat, 'axis') : undefined;
  if (concat?.opType !== 'Concat' || concat.input.length !== 2 || (axis !== -1 && axis !== 3)) return undefined;
  const readers = index.consumers(softmax.output[0]);
  if (readers.length !== 1 || readers[0].node.opType !== 'Slice') return undefined;
  return { scores: concat.input[0], probabilities: readers[0].node.output[0] };
}

/** Attention sites of a graph in layer order; [] when there are none. */
export function findAttentionSites(graph: GraphProto, opset: number, index = new GraphIndex(graph)): AttentionSite[] {
  const order = new Map(index.topologicalOrder().map((node, position) => [node, position]));
  const sites: AttentionSite[] = [];
  for (const node of graph.node) {
    if (node.opType !== 'Softmax' || node.domain !== '' || !softmaxOnLastAxis(node, opset)) continue;
    const sink = sinkColumn(index, node);
    const scores = findScoreMatMul(index, sink?.scores ?? node.input[0]);
    if (!scores) continue;
    const transB = scores.opType === 'FusedMatMul' && attributeValue(scores, 'transB') === 1;
    sites.push({
      softmax: node,
      probabilities: sink?.probabilities ?? node.output[0],
      scores,
      query: scores.input[0],
      key: scores.input[1],
      keyTransposed: !transB,
      order: order.get(node) ?? 0,
    });
  }
  return sites.sort((a, b) => a.order - b.order);
}

/** One line about what the graph does contain, for the not-found error. */
export function describeGraphForError(graph: GraphProto): string {
  const counts = new Map<string, number>();
  for (const node of graph.node) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  const softmaxes = counts.get('Softmax') ?? 0;
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([op, n]) => `${op}×${n}`);
  return `the graph has ${graph.node.length} nodes (${top.join(', ')}) and ${softmaxes} Softmax node(s), none fed by Q·Kᵀ`;
}
