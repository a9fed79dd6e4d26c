// Small read-only views of a decoded ONNX graph that the derivative builder, the embedding split and the target
// head all need: who produces a tensor, who consumes it, which tensors are constants and what they hold.
import { attributeValue, tensorToArray, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';

/** Tensor name → producing node and output slot, plus consumers and constant tensors of one graph. */
export class GraphTools {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly graphInputs = new Set<string>();

  constructor(readonly graph: GraphProto) {
    for (const tensor of graph.initializer) this.initializers.set(tensor.name, tensor);
    for (const input of graph.input) if (!this.initializers.has(input.name)) this.graphInputs.add(input.name);
    for (const node of graph.node) {
      for (const output of node.output) if (output) this.producer.set(output, node);
      for (const input of node.input) {
        if (!input) continue;
        const list = this.consumers.get(input);
        if (list) list.push(node);
        else this.consumers.set(input, [node]);
      }
    }
  }

  /** The constant tensor behind a name: an initializer or the value of a Constant node. */
  constantTensor(name: string): TensorProto | undefined {
    const initializer = this.initializers.get(name);
    if (initializer) return initializer;
    const node = this.producer.get(name);
    if (node?.opType === 'Constant') {
      const value = attributeValue(node, 'value');
      if (value && typeof value === 'object' && !Array.isArray(value) && value.$typeName === 'onnx.TensorProto') return value;
      const ints = attributeValue(node, 'value_ints') ?? attributeValue(node, 'value_int');
      if (ints !== undefined) return undefined;
    }
    return undefined;
  }

  /** Integer or float constant values as plain numbers (axes, shapes, exponents), or undefined if not constant. */
  constantNumbers(name: string): number[] | undefined {
    if (!name) return undefined;
    const node = this.producer.get(name);
    if (node?.opType === 'Constant') {
      for (const key of ['value_ints', 'value_floats']) {
        const list = attributeValue(node, key);
        if (Array.isArray(list)) return list;
      }
      for (const key of ['value_int', 'value_float']) {
        const one = attributeValue(node, key);
        if (typeof one === 'number') return [one];
      }
    }
    const tensor = this.constantTensor(name);
    if (!tensor) return undefined;
    const data = tensorToArray(tensor);
    return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  /** Whether a tensor is fixed when the graph runs (initializer or Constant output). */
  isConstant(name: string): boolean {
    return this.initializers.has(name) || this.producer.get(name)?.opType === 'Constant';
  }
}

/** The default-domain opset version a model imports. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 13;
}

/** A shallow copy of a model with a replaced graph (messages are plain objects; weights are shared, not copied). */
export function withGraph(model: ModelProto, graph: Partial<GraphProto>): ModelProto {
  return { ...model, graph: { ...model.graph!, ...graph } };
}

/**
 * Removes nodes whose outputs reach no graph output, and initializers and graph inputs nobody reads (except
 * the inputs named in `keepInputs`). Returns a new graph object.
 */
export function pruneGraph(graph: GraphProto, keepInputs: Iterable<string> = []): GraphProto {
  const live = new Set<string>(graph.output.map((o) => o.name));
  const kept: NodeProto[] = [];
  for (let index = graph.node.length - 1; index >= 0; index--) {
    const node = graph.node[index];
    if (!node.output.some((o) => live.has(o))) continue;
    kept.push(node);
    for (const input of node.input) if (input) live.add(input);
    // Subgraph attributes (If/Loop) read outer names implicitly; keep everything they mention alive.
    for (const attribute of node.attribute) if (attribute.g) for (const inner of attribute.g.node) for (const n of inner.input) live.add(n);
  }
  kept.reverse();
  const keep = new Set(keepInputs);
  return {
    ...graph,
    node: kept,
    initializer: graph.initializer.filter((t) => live.has(t.name)),
    input: graph.input.filter((i) => live.has(i.name) || keep.has(i.name)),
    valueInfo: [],
  };
}

/**
 * Copies of `nodes` (in their order) named with `prefix`, their outputs renamed likewise; inputs read the copies where
 * `names` (which gains the renamed outputs) says so, the originals otherwise. `shapes` gains the copies' shapes.
 *
 * Example: `renamedCopies([MatMul(q, kT) → s], 'remat/', new Map(), shapes)` → `[MatMul(q, kT) → 'remat/s']`.
 */
export function renamedCopies(nodes: readonly NodeProto[], prefix: string, names: Map<string, string>, shapes: Map<string, number[]>): NodeProto[] {
  for (const node of nodes) for (const output of node.output) if (output) names.set(output, `${prefix}${output}`);
  for (const node of nodes) {
    for (const output of node.output) {
      const shape = output ? shapes.get(output) : undefined;
      if (shape) shapes.set(names.get(output)!, shape);
    }
  }
  return nodes.map((node) => ({
    ...node,
    name: `${prefix}${node.name}`,
    input: node.input.map((input) => names.get(input) ?? input),
    output: node.output.map((output) => names.get(output) ?? output),
  }));
}
