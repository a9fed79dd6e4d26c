// Integer tensors that depend on tensor shapes only (Shape → Gather → Div → Concat → Slice bounds, Reshape targets,
// Unsqueeze axes) are constants for one run shape, and derivative graphs are built per run shape. torch.onnx
// exports compute slice bounds and reshape targets that way (rotate_half's `x[..., : x.shape[-1] // 2]`), while
// the gradient rules and the narrowing read such parameters as constants. The shape probe fetches their values
// and they become initializers here.
import { attributeValue, makeNode, makeTensor, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import type { Tensor } from '../runtime';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';

/** Operators whose outputs are not a function of their inputs' values and shapes alone. */
const NOT_STATIC = operatorsWith('notStatic');
/** Shape-only outputs: their values follow from the input's shape, whatever the input holds. */
const SHAPE_OF = operatorsWith('shapeOnly');
/** Larger static tensors (masks, position tables) stay computed in the graph: rules never need them as constants. */
export const MAX_FOLDED_ELEMENTS = 4096;
const PREFIX = 'static::';

function staticTensors(model: ModelProto): Set<string> {
  const graph = model.graph!;
  const known = new Set(graph.initializer.map((t) => t.name));
  for (const node of graph.node) {
    if (NOT_STATIC.has(node.opType) || node.domain === 'com.microsoft') continue;
    const ready = SHAPE_OF.has(node.opType) || node.input.every((input) => !input || known.has(input));
    if (ready) for (const output of node.output) if (output) known.add(output);
  }
  return known;
}

/**
 * Static tensors computed by nodes (not Constants or initializers) that some non-static node reads: the values the
 * probe fetches for `foldStatic`.
 */
export function staticCandidates(model: ModelProto): string[] {
  const graph = model.graph!;
  const known = staticTensors(model);
  const tools = new GraphTools(graph);
  const candidates = new Set<string>();
  const readByDynamic = (node: NodeProto) => !node.output.some((o) => o && known.has(o));
  for (const node of graph.node) {
    if (!readByDynamic(node)) continue;
    for (const input of node.input) {
      const producer = input ? tools.producer.get(input) : undefined;
      if (producer && producer.opType !== 'Constant' && known.has(input)) candidates.add(input);
    }
  }
  return [...candidates];
}

/**
 * Replaces the probed static integer tensors by initializers in every node that is not static itself, and drops
 * the shape arithmetic nobody reads any more. `shapes` gains the new initializers' shapes.
 */
export function foldStatic(model: ModelProto, values: Map<string, Tensor['data']>, shapes: Map<string, number[]>): ModelProto {
  const graph = model.graph!;
  const folded = new Map<string, string>();
  const initializers = [];
  for (const [name, data] of values) {
    const integer = data instanceof BigInt64Array || data instanceof Int32Array;
    const dims = shapes.get(name);
    if (!integer || !dims || data.length > MAX_FOLDED_ELEMENTS) continue;
    const constant = `${PREFIX}${name}`;
    initializers.push(makeTensor(constant, data as BigInt64Array | Int32Array, dims));
    shapes.set(constant, dims);
    folded.set(name, constant);
  }
  if (folded.size === 0) return model;
  const known = staticTensors(model);
  const nodes = graph.node.map((node) => {
    if (node.output.some((o) => o && known.has(o)) || !node.input.some((i) => folded.has(i))) return node;
    return { ...node, input: node.input.map((input) => folded.get(input) ?? input) };
  });
  const rewritten = pruneGraph({ ...graph, node: nodes, initializer: [...graph.initializer, ...initializers] }, graph.input.map((i) => i.name));
  return withGraph(model, rewritten);
}

/**
 * The graph that computes the static tensors `names` from tensor shapes alone: the model's shape arithmetic with
 * every Shape (and Size) node replaced by a constant from `shapes`. Running it (no inputs, no activations) gives
 * what a probe at those shapes would fetch — how long runs get their folded values without running the model.
 */
export function staticValuesModel(model: ModelProto, shapes: Map<string, number[]>, names: readonly string[]): ModelProto {
  const graph = model.graph!;
  const known = staticTensors(model);
  const initializers = [...graph.initializer];
  const nodes: NodeProto[] = [];
  for (const node of graph.node) {
    if (!node.output.some((o) => o && known.has(o))) continue;
    if (!SHAPE_OF.has(node.opType)) {
      nodes.push(node);
      continue;
    }
    const dims = shapes.get(node.input[0]);
    if (!dims) throw new Error(`No shape for '${node.input[0]}'`);
    const rank = dims.length;
    const clamp = (axis: number) => Math.min(rank, Math.max(0, axis < 0 ? axis + rank : axis));
    const start = clamp(Number(attributeValue(node, 'start') ?? 0));
    const end = clamp(Number(attributeValue(node, 'end') ?? rank));
    const value = node.opType === 'Size' ? [dims.reduce((n, d) => n * d, 1)] : dims.slice(start, Math.max(start, end));
    const name = `${PREFIX}shape::${node.output[0]}`;
    initializers.push(makeTensor(name, BigInt64Array.from(value.map(BigInt)), node.opType === 'Size' ? [] : [value.length]));
    nodes.push(makeNode('Identity', [name], [node.output[0]], `${PREFIX}${node.name}`));
  }
  const pruned = pruneGraph({ ...graph, node: nodes, initializer: initializers, input: [], output: names.map((n) => makeValueInfo(n)) });
  return withGraph(model, pruned);
}
