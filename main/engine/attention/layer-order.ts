// Each layer's explain nodes run before the next layer's attention. onnxruntime does not run a graph in the order of
// its node list: it orders nodes by a depth-first walk back from the graph's outputs, and the row slices and rollout
// matrices, reached only from outputs that need the last layer, ran after the last layer (profiled on the bench's
// 40 M llama: all 8 layers' slices after the 8th Softmax). Every layer's [heads, T, T] probabilities then stayed
// alive to the end of the graph: L of them instead of about one (1.58 GB against 0.75 GB for a plain forward with
// full logits at 2,048 tokens).
//
// A data edge fixes the order whatever the walk: the next site's query goes through a Reshape to its own shape,
// computed as Shape(query) + 0 · (a dimension of each of this layer's explain tensors), so the next layer's scores
// cannot be computed before this layer's explain tensors exist, and its probabilities are freed first. The values do
// not change (a Reshape to the same shape; integer arithmetic).
import type { GraphBuilder } from '../onnx/graph-builder';
import type { NodeProto } from '../onnx/proto';
import type { Emit } from '../onnx/decompose/common';

/** Where a site's attention starts: the node that reads its query, and which input that is. */
export interface SiteGate {
  node: NodeProto;
  input: number;
}

/**
 * Gates site l + 1 on the explain tensors of site l (`explained[l]`, any element type and rank). Returns copies of the
 * gated nodes by original node; the caller puts them in place of the originals.
 */
export function gateLayers(builder: GraphBuilder, emit: Emit, gates: readonly SiteGate[], explained: readonly string[][]): Map<NodeProto, NodeProto> {
  const replaced = new Map<NodeProto, NodeProto>();
  for (let layer = 1; layer < gates.length; layer++) {
    const { node, input } = gates[layer];
    const before = explained[layer - 1];
    if (before.length === 0) continue;
    const current = replaced.get(node) ?? node;
    const query = current.input[input];
    // 0 · (sum of each tensor's first dimension): an int64 zero that exists only once they do.
    // (Add, not Sum: Sum takes floating-point tensors only.)
    const sum = before.map((tensor) => emit.dims(tensor, 0, 1)).reduce((total, next) => builder.op('Add', [total, next]));
    const zero = builder.op('Mul', [sum, builder.int64([0])]);
    const shape = builder.op('Add', [builder.op('Shape', [query]), zero]);
    const gated = builder.op('Reshape', [query, shape]);
    replaced.set(node, { ...current, input: current.input.map((name, position) => (position === input ? gated : name)) });
  }
  return replaced;
}

/**
 * The graph's nodes with the gated copies in place and the added nodes each placed right after the last node whose
 * output it reads, so that the list stays in topological order (pruning walks it backwards).
 */
export function mergedNodes(original: readonly NodeProto[], added: readonly NodeProto[], replaced: ReadonlyMap<NodeProto, NodeProto>): NodeProto[] {
  const place = new Map<string, number>();
  original.forEach((node, position) => node.output.forEach((output) => place.set(output, position)));
  const after = new Map<number, NodeProto[]>();
  for (const node of added) {
    // Added nodes come in an order where each follows what it reads, so sharing a place keeps their order.
    const at = Math.max(-1, ...node.input.map((input) => place.get(input) ?? -1));
    node.output.forEach((output) => place.set(output, at));
    const list = after.get(at);
    if (list) list.push(node);
    else after.set(at, [node]);
  }
  const merged = (gated: ReadonlyMap<NodeProto, NodeProto>) =>
    [...(after.get(-1) ?? []), ...original.flatMap((node, position) => [gated.get(node) ?? node, ...(after.get(position) ?? [])])];
  const nodes = merged(replaced);
  // A gated node listed before this layer's explain nodes (attention sites on parallel branches): left ungated.
  const addedOutputs = new Set(added.flatMap((node) => node.output));
  const produced = new Set<string>();
  for (const node of nodes) {
    if (node.input.some((input) => addedOutputs.has(input) && !produced.has(input))) return merged(new Map());
    node.output.forEach((output) => produced.add(output));
  }
  return nodes;
}
