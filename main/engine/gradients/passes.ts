// Splits a derivative graph into a forward pass and a reverse pass, so that answer rows differentiated in several
// chunks share one forward: the forward graph returns the target values and every forward tensor the reverse nodes
// read ("saved" tensors); the reverse graph takes those, plus the seed cotangent, as inputs. The reverse part is
// exactly the nodes that depend on the seed cotangent.
import { DataType, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import { pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { REMATERIALISED } from './rematerialise';

export interface SplitPasses {
  forward: ModelProto;
  /** Builds the reverse graph once the element types of the saved tensors are known (from the forward session). */
  reverse: (typeOf: (tensor: string) => number) => ModelProto;
  /** Forward tensors the reverse graph reads, in the forward graph's output order after `forwardOutputs`. */
  saved: string[];
}

/** Layout and elementwise operators cheap enough to recompute in every reverse pass. */
const RECOMPUTED = operatorsWith('recomputable');

/** onnxruntime-node tensor type names → ONNX element types, for the reverse graph's inputs. */
const ELEMENT_TYPES: Record<string, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

/** The ONNX element type of an onnxruntime tensor type name. */
export function elementTypeOf(typeName: string | undefined): number {
  const type = typeName ? ELEMENT_TYPES[typeName] : undefined;
  if (type === undefined) throw new Error(`A saved forward tensor has a type the reverse pass cannot take: ${typeName}`);
  return type;
}

/**
 * Splits `model` at the nodes that depend on `cotangent`. `forwardOutputs` are the forward results to keep (the
 * target values); the reverse graph returns `reverseOutputs` (the gradients).
 */
export function splitPasses(model: ModelProto, cotangent: string, forwardOutputs: string[], reverseOutputs: string[], shapes: Map<string, number[]>): SplitPasses {
  const graph = model.graph!;
  const dependent = new Set([cotangent]);
  // Constants (initializers and what nodes compute from them alone, e.g. transposed weights) are recomputed
  // wherever needed: onnxruntime folds them once, instead of copying them out of every forward run.
  const constant = new Set(graph.initializer.map((t) => t.name));
  const reverseNodes: NodeProto[] = [];
  const forwardNodes: NodeProto[] = [];
  for (const node of graph.node) {
    if (node.input.some((i) => dependent.has(i))) {
      reverseNodes.push(node);
      for (const output of node.output) if (output) dependent.add(output);
      continue;
    }
    forwardNodes.push(node);
    if (node.input.every((i) => !i || constant.has(i)) && node.opType !== 'RandomNormal' && node.opType !== 'RandomUniform') {
      for (const output of node.output) if (output) constant.add(output);
    }
  }
  // Cheap forward-space helpers that only reverse nodes read (transposed probabilities, σ(1−σ), …) are recomputed
  // by the reverse graph instead of being copied out of the forward run: the saved tensors stay the model's own.
  const readers = new Map<string, NodeProto[]>();
  for (const node of graph.node) for (const input of node.input) if (input) readers.set(input, [...(readers.get(input) ?? []), node]);
  const reverseSide = new Set(reverseNodes);
  const kept = new Set(forwardOutputs);
  for (let index = forwardNodes.length - 1; index >= 0; index--) {
    const node = forwardNodes[index];
    const outputs = node.output.filter(Boolean);
    // Copies of attention score chains (rematerialise.ts) are recomputed whatever their operators: that is their purpose.
    const recomputed = RECOMPUTED.has(node.opType) || node.name.startsWith(REMATERIALISED);
    if (!recomputed || outputs.every((o) => constant.has(o)) || outputs.some((o) => kept.has(o))) continue;
    if (!outputs.every((o) => (readers.get(o) ?? []).length > 0 && readers.get(o)!.every((r) => reverseSide.has(r)))) continue;
    reverseSide.add(node);
    forwardNodes.splice(index, 1);
    for (const output of outputs) dependent.add(output);
  }
  const producer = new Map(graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const graphInputs = new Map(graph.input.map((i) => [i.name, i]));
  const saved: string[] = [];
  const reverseInitializers = new Set<string>();
  const reverseInputs = new Set<string>();
  const reverseConstants = new Set<NodeProto>();
  const need = (input: string): void => {
    if (!input || dependent.has(input)) return;
    if (initializers.has(input)) reverseInitializers.add(input);
    else if (graphInputs.has(input)) reverseInputs.add(input);
    else if (constant.has(input)) {
      const node = producer.get(input)!;
      if (reverseConstants.has(node)) return;
      reverseConstants.add(node);
      node.input.forEach(need);
    } else if (!saved.includes(input)) saved.push(input);
  };
  for (const node of reverseSide) node.input.forEach(need);
  const reverseAll = graph.node.filter((n) => reverseConstants.has(n) || reverseSide.has(n));
  const keptForward = forwardOutputs.filter((o) => !saved.includes(o));
  const forward = withGraph(
    model,
    pruneGraph(
      { ...graph, node: forwardNodes, output: [...keptForward, ...saved].map((name) => makeValueInfo(name)), input: graph.input.filter((i) => i.name !== cotangent) },
    ),
  );
  const reverse = (typeOf: (tensor: string) => number): ModelProto =>
    withGraph(model, {
      node: reverseAll,
      initializer: graph.initializer.filter((t) => reverseInitializers.has(t.name)),
      input: [
        ...graph.input.filter((i) => reverseInputs.has(i.name) || i.name === cotangent),
        ...saved.map((name) => makeValueInfo(name, typeOf(name), shapes.get(name))),
      ],
      output: reverseOutputs.map((name) => makeValueInfo(name)),
      valueInfo: [],
    });
  return { forward, reverse, saved };
}
