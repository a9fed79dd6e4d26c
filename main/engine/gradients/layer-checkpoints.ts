// Layer checkpointing for the reverse pass of answer rows. Split in passes (passes.ts), the forward returns every
// forward tensor a reverse node reads: per layer the MLP's [T, intermediate] tensors and a dozen [T, hidden] ones
// (2.45 GB for a 16-layer, hidden-1024 model at 1,024 tokens), all alive for the whole reverse pass. Instead, the
// forward keeps only the residual stream between blocks, and the reverse graph recomputes one block's tensors from it
// (copies of the block's forward nodes, like rematerialise.ts's copies of score chains) just before that block's
// reverse nodes read them; they are freed once that block is differentiated.
//
// Blocks are found structurally, not by names: a "boundary" is a tensor that every path from the embeddings to the
// target values passes through (the residual stream after each attention and MLP Add, in llama, qwen, gemma and gpt2
// exports alike); the nodes between two boundaries are one block.
//
// Order: onnxruntime orders a graph's nodes by a depth-first walk that it is free to change with its fusions, so the
// copies of a block are made to wait for the block's first cotangent by data, not by their place in the node list:
// they read the boundary through Where(IsNaN(g[0]), b, b), which is b exactly whatever g holds. The copies compute what
// the originals compute (same operators, same inputs), so gradients are unchanged (layer-checkpoints.test.ts).
import { GraphBuilder } from '../onnx/graph-builder';
import { GraphIndex } from '../onnx/graph-index';
import { DataType, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, renamedCopies, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { ancestors } from './rematerialise';

/** Name prefix of the copies and their gates. */
export const LAYER_RECOMPUTED = 'layer/';

/** Outputs follow from an input's shape only: no value flows through them. */
const SHAPE_ONLY = operatorsWith('shapeOnly');

export interface LayerCheckpointOptions {
  /** The differentiated input the residual stream starts from (the embeddings). */
  source: string;
  /** The seed cotangent input: nodes that depend on it are the reverse pass. */
  cotangent: string;
  /** The forward's own results (target values). */
  forwardOutputs: readonly string[];
}

/** Forward nodes whose values depend on `source`, in graph order, and the boundaries between their blocks. */
function blocksOf(graph: ModelProto['graph'] & object, forward: ReadonlySet<NodeProto>, source: string): { segment: Map<string, number>; boundaries: string[] } {
  const flow = new Set([source]);
  const nodes: NodeProto[] = [];
  for (const node of graph.node) {
    if (!forward.has(node) || SHAPE_ONLY.has(node.opType) || !node.input.some((i) => flow.has(i))) continue;
    nodes.push(node);
    for (const output of node.output) if (output) flow.add(output);
  }
  // A tensor is a boundary when, right after it is produced, no other value of the flow still waits for a reader.
  const pending = new Map<string, number>();
  for (const node of nodes) for (const input of node.input) if (flow.has(input)) pending.set(input, (pending.get(input) ?? 0) + 1);
  const open = new Set([source]);
  const segment = new Map<string, number>();
  const boundaries = [source];
  for (const node of nodes) {
    for (const input of node.input) {
      if (!flow.has(input)) continue;
      const left = pending.get(input)! - 1;
      pending.set(input, left);
      if (left === 0) open.delete(input);
    }
    for (const output of node.output) {
      if (!output) continue;
      segment.set(output, boundaries.length - 1);
      if ((pending.get(output) ?? 0) > 0) open.add(output);
    }
    const [only] = open;
    if (open.size === 1 && node.output.includes(only)) {
      segment.delete(only);
      boundaries.push(only);
    }
  }
  return { segment, boundaries };
}

/**
 * Gives the reverse pass its own copies of each block's forward tensors, computed from the block's input (a boundary of
 * the residual stream) once the block's first cotangent exists. `shapes` gains the copies' shapes. Returns the model and
 * the number of blocks whose tensors are recomputed.
 *
 * Example: a 2-layer llama derivative graph → `{ blocks: 5 }` (attention and MLP of each layer, and the final norm and
 * head); split in passes, its forward then returns only the residual stream at the blocks' inputs (and tensors that do
 * not depend on the embeddings: rotary tables, masks).
 */
export function checkpointLayers(model: ModelProto, shapes: Map<string, number[]>, options: LayerCheckpointOptions): { model: ModelProto; blocks: number } {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const forward = ancestors(tools, options.forwardOutputs);
  const { segment, boundaries } = blocksOf(graph, forward, options.source);
  // Forward tensors of each block that nodes outside the forward read.
  const needed = new Map<number, Set<string>>();
  for (const node of graph.node) {
    if (forward.has(node)) continue;
    for (const input of node.input) {
      const block = segment.get(input);
      if (block !== undefined) needed.set(block, (needed.get(block) ?? new Set()).add(input));
    }
  }
  // The first reverse node (in graph order) that needs each block, directly or through helpers that only the reverse
  // pass reads (transposes, rematerialised score chains): its cotangent input gates the block's copies.
  const dependent = new Set([options.cotangent]);
  const carried = new Map<string, Set<number>>();
  const gates = new Map<number, { cotangent: string; before: NodeProto }>();
  for (const node of graph.node) {
    if (forward.has(node)) continue;
    const blocks = new Set<number>();
    for (const input of node.input) {
      const block = segment.get(input);
      if (block !== undefined) blocks.add(block);
      for (const b of carried.get(input) ?? []) blocks.add(b);
    }
    const cotangent = node.input.find((input) => dependent.has(input));
    if (cotangent === undefined) {
      if (blocks.size > 0) for (const output of node.output) carried.set(output, blocks);
      continue;
    }
    for (const output of node.output) if (output) dependent.add(output);
    for (const block of blocks) if (!gates.has(block)) gates.set(block, { cotangent, before: node });
  }
  const builder = new GraphBuilder('layer-checkpoints', `${LAYER_RECOMPUTED}gate/`);
  builder.reserve(graph.node.flatMap((n) => [n.name, ...n.output]));
  const renamed = new Map<string, string>();
  let blocks = 0;
  const insertBefore = new Map<NodeProto, NodeProto[]>();
  for (const [block, tensors] of needed) {
    const gate = gates.get(block);
    if (!gate) continue;
    // The block's nodes that the needed tensors come from, back to its boundary.
    const copied = new Set<NodeProto>();
    const stack = [...tensors];
    while (stack.length > 0) {
      const node = tools.producer.get(stack.pop()!)!;
      if (copied.has(node)) continue;
      copied.add(node);
      for (const input of node.input) if (segment.get(input) === block) stack.push(input);
    }
    const boundary = boundaries[block];
    const first = builder.op('Slice', [builder.op('Reshape', [gate.cotangent, builder.int64([-1])]), builder.int64([0]), builder.int64([1])]);
    // The gating cotangent may be an integer (a shape computed from a cotangent's size, rematerialise.ts sequenceSites):
    // IsNaN takes floats only. Cast keeps a NaN a NaN, and the Where gives the boundary whatever it says.
    const gated = builder.op('Where', [builder.op('IsNaN', [builder.op('Cast', [first], { to: DataType.FLOAT })]), boundary, boundary]);
    const names = new Map<string, string>([[boundary, gated]]);
    const copies = renamedCopies(graph.node.filter((n) => copied.has(n)), LAYER_RECOMPUTED, names, shapes);
    for (const tensor of tensors) renamed.set(tensor, names.get(tensor)!);
    const gateNodes = builder.nodes.splice(0);
    blocks++;
    insertBefore.set(gate.before, [...(insertBefore.get(gate.before) ?? []), ...gateNodes, ...copies]);
  }
  if (blocks === 0) return { model, blocks };
  const node = graph.node.flatMap((n) => {
    const own = forward.has(n) ? n : { ...n, input: n.input.map((input) => renamed.get(input) ?? input) };
    return [...(insertBefore.get(n) ?? []), own];
  });
  // Helpers placed before the copies they now read (rematerialised score chains) move after them.
  const sorted = new GraphIndex({ ...graph, node }).topologicalOrder();
  return { model: withGraph(model, { node: sorted, initializer: [...graph.initializer, ...builder.initializers] }), blocks };
}
