// Checkpointed attention for the reverse pass. A derivative graph's reverse nodes read every layer's attention
// probabilities P = softmax(chain(Q · Kᵀ)) ([heads, T, T] per layer, 2.1 GB per layer for 8 heads at 8,192 tokens);
// split in passes (passes.ts), the forward would return all of them and the reverse pass would take them all as
// inputs, so memory grew with layers × T². Instead, the reverse side gets its own copy of each score chain
// (MatMul(Q, Kᵀ) → elementwise chain → Softmax → Casts), reading Q and Kᵀ, which the scores' own derivative saves
// anyway ([heads, T, head_dim]): the forward keeps only what it needs to go on, and the reverse pass recomputes one
// layer's probabilities where it needs them.
//
// Order matters for memory, not for the numbers: onnxruntime orders nodes by a depth-first walk back from the
// outputs that takes a node's higher-indexed inputs first, so a copy placed early in the node list (right after
// the original chain) is computed late — after the layers above have been differentiated, just before its own
// layer's reverse nodes read it — and freed after them (measured, README "Checkpointed attention, measured": the
// reverse pass's rise above the forward's saved tensors stays the same from 4 to 8 layers). The copies compute exactly
// what the originals do (same operators, same inputs), so gradients are unchanged (rematerialise.test.ts).
import type { ModelProto, NodeProto } from '../onnx/proto';
import { GraphTools, renamedCopies, withGraph } from './graph-tools';

/** Name prefix of the copies; splitPasses moves nodes with it to the reverse graph (passes.ts). */
export const REMATERIALISED = 'remat/';

/** Elementwise operators between the scores MatMul and the Softmax (scale, softcap, mask). */
const CHAIN = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Tanh', 'Cast', 'Max', 'Min', 'Identity']);
/** Layout operators that may follow the Softmax before its readers (dtype round trips). */
const AFTER = new Set(['Cast', 'Identity']);
const MAX_CHAIN = 8;

/** The nodes from a MatMul of two computed tensors up to `tensor`, through elementwise operators, in graph order. */
function scoreChain(tools: GraphTools, tensor: string, depth: number): NodeProto[] | undefined {
  const node = tools.producer.get(tensor);
  if (!node || (node.domain && node.domain !== 'ai.onnx')) return undefined;
  if (node.opType === 'MatMul') return node.input.every((input) => !tools.isConstant(input)) ? [node] : undefined;
  if (!CHAIN.has(node.opType) || depth === 0) return undefined;
  // Exactly one input leads to the scores; the others (scale, mask) are read as they are.
  const found = node.input
    .filter((input) => input && !tools.isConstant(input))
    .map((input) => scoreChain(tools, input, depth - 1))
    .filter((chain) => chain !== undefined);
  return found.length === 1 ? [...found[0], node] : undefined;
}

/** Nodes that compute `outputs` (the forward's own results): their reads of P stay on the original. */
export function ancestors(tools: GraphTools, outputs: readonly string[]): Set<NodeProto> {
  const found = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const node = tools.producer.get(stack.pop()!);
    if (!node || found.has(node)) continue;
    found.add(node);
    for (const input of node.input) if (input) stack.push(input);
  }
  return found;
}

/**
 * Gives every reader of attention probabilities outside the computation of `forwardOutputs` its own copy of the score
 * chain (named with the REMATERIALISED prefix). `shapes` gains the copies' shapes. Returns the model and the number of
 * chains copied.
 *
 * Example: a 3-layer llama derivative graph, forwardOutputs ['target_values'] → `{ rematerialised: 3 }`; its Softmax
 * outputs are no longer read by any node that depends on the seed cotangent.
 */
export function rematerialiseAttention(model: ModelProto, shapes: Map<string, number[]>, forwardOutputs: readonly string[]): { model: ModelProto; rematerialised: number } {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const forward = ancestors(tools, forwardOutputs);
  const copiesAfter = new Map<NodeProto, NodeProto[]>();
  const renamed = new Map<NodeProto, Map<string, string>>();
  for (const softmax of graph.node) {
    if (softmax.opType !== 'Softmax' || (softmax.domain && softmax.domain !== 'ai.onnx')) continue;
    const chain = scoreChain(tools, softmax.input[0], MAX_CHAIN);
    if (!chain) continue;
    // The probabilities and their Cast/Identity copies: each may have readers outside the forward.
    const nodes = [...chain, softmax];
    let tail = softmax;
    for (;;) {
      const next = (tools.consumers.get(tail.output[0]) ?? []).find((n) => AFTER.has(n.opType) && forward.has(n));
      if (!next || nodes.length > chain.length + 5) break;
      nodes.push(next);
      tail = next;
    }
    const probabilities = nodes.slice(chain.length).map((n) => n.output[0]);
    const readers = probabilities.flatMap((p) => (tools.consumers.get(p) ?? []).filter((reader) => !forward.has(reader) && !nodes.includes(reader)));
    if (readers.length === 0) continue;
    // Copies of the whole chain, with outputs renamed; their inputs from outside the chain are the originals'.
    const names = new Map<string, string>();
    const copies = renamedCopies(nodes, REMATERIALISED, names, shapes);
    copiesAfter.set(tail, copies);
    for (const reader of readers) {
      const map = renamed.get(reader) ?? new Map<string, string>();
      for (const p of probabilities) map.set(p, names.get(p)!);
      renamed.set(reader, map);
    }
  }
  if (copiesAfter.size === 0) return { model, rematerialised: 0 };
  const node = graph.node.flatMap((n) => {
    const map = renamed.get(n);
    const own = map ? { ...n, input: n.input.map((input) => map.get(input) ?? input) } : n;
    return [own, ...(copiesAfter.get(n) ?? [])];
  });
  return { model: withGraph(model, { node }), rematerialised: copiesAfter.size };
}
