// A read-only index over a decoded GraphProto: who produces and who consumes each tensor, which tensors are
// constant (initializers or Constant nodes) and their values, and a topological order. Graph rewriters
// (attention instrumentation, fused-operator decomposition, derivative graphs) all ask these questions, so they
// are answered once here instead of by ad-hoc scans over `graph.node`.
import { attributeValue, tensorToArray, type GraphProto, type NodeProto, type TensorData, type TensorProto } from './proto';

/** Operators that only move or relabel data: walking "upward" through them keeps the same values. */
const PASS_THROUGH_OPS: ReadonlySet<string> = new Set([
  'Reshape',
  'Transpose',
  'Cast',
  'Identity',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Expand',
]);

/** The node that produces a tensor and the output slot it writes. */
export interface Producer {
  node: NodeProto;
  /** Position of the node in `graph.node`. */
  index: number;
  /** Which output of the node the tensor is. */
  output: number;
}

/** A node that reads a tensor and the input slot it reads it into. */
export interface Consumer {
  node: NodeProto;
  index: number;
  input: number;
}

/**
 * Index of one graph (not of its subgraphs: If/Loop bodies are opaque here).
 *
 * Example: for a graph `x → MatMul(x, W) → y`, `index.producer('y').node.opType === 'MatMul'`,
 * `index.consumers('x')[0].input === 0`, `index.isConstant('W') === true`.
 */
export class GraphIndex {
  readonly inputNames: ReadonlySet<string>;
  readonly outputNames: ReadonlySet<string>;
  private readonly producers = new Map<string, Producer>();
  private readonly consumerLists = new Map<string, Consumer[]>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly constantNodes = new Map<string, TensorProto>();
  private readonly nodePositions = new Map<NodeProto, number>();
  private order: NodeProto[] | undefined;

  constructor(readonly graph: GraphProto) {
    this.inputNames = new Set(graph.input.map((v) => v.name));
    this.outputNames = new Set(graph.output.map((v) => v.name));
    for (const tensor of graph.initializer) this.initializers.set(tensor.name, tensor);
    graph.node.forEach((node, index) => {
      this.nodePositions.set(node, index);
      node.output.forEach((name, output) => {
        if (name) this.producers.set(name, { node, index, output });
      });
      node.input.forEach((name, input) => {
        if (!name) return; // an omitted optional input
        const list = this.consumerLists.get(name) ?? [];
        list.push({ node, index, input });
        this.consumerLists.set(name, list);
      });
      if (node.opType === 'Constant' && node.domain === '' && node.output[0]) {
        const value = attributeValue(node, 'value');
        if (value && typeof value === 'object' && !Array.isArray(value) && value.$typeName === 'onnx.TensorProto') {
          this.constantNodes.set(node.output[0], value as TensorProto);
        }
      }
    });
  }

  /** The node writing `tensor`, or undefined for graph inputs, initializers and unknown names. */
  producer(tensor: string): Producer | undefined {
    return this.producers.get(tensor);
  }

  /** Nodes reading `tensor` (in graph order); graph outputs are not listed. */
  consumers(tensor: string): Consumer[] {
    return this.consumerLists.get(tensor) ?? [];
  }

  /** Position of a node in `graph.node`. */
  position(node: NodeProto): number {
    const index = this.nodePositions.get(node);
    if (index === undefined) throw new Error(`node ${node.name || node.opType} is not in this graph`);
    return index;
  }

  initializer(name: string): TensorProto | undefined {
    return this.initializers.get(name);
  }

  /** The tensor behind a constant name: an initializer (not overridable by a graph input) or a Constant node. */
  constantTensor(name: string): TensorProto | undefined {
    if (this.inputNames.has(name)) return undefined; // an initializer that is also an input can be fed
    return this.initializers.get(name) ?? this.constantNodes.get(name);
  }

  isConstant(name: string): boolean {
    return this.constantTensor(name) !== undefined;
  }

  /** Values of a constant tensor as a typed array (copy), or undefined when `name` is not constant. */
  constantArray(name: string): TensorData | undefined {
    const tensor = this.constantTensor(name);
    if (!tensor) return undefined;
    // Decoding a Node Buffer leaves rawData as Buffer views, whose slice() shares the file's whole buffer:
    // hand tensorToArray a plain Uint8Array copy so it reads this tensor's bytes only.
    if (tensor.rawData.length > 0 && Object.getPrototypeOf(tensor.rawData) !== Uint8Array.prototype) {
      return tensorToArray({ ...tensor, rawData: Uint8Array.prototype.slice.call(tensor.rawData) });
    }
    return tensorToArray(tensor);
  }

  /** Values of a constant tensor as plain numbers (int64 converted), or undefined when `name` is not constant. */
  constantNumbers(name: string): number[] | undefined {
    const values = this.constantArray(name);
    if (!values) return undefined;
    return Array.from(values as ArrayLike<number | bigint>, (v) => Number(v));
  }

  /** Dimensions of a constant tensor. */
  constantDims(name: string): number[] | undefined {
    return this.constantTensor(name)?.dims.map(Number);
  }

  /**
   * Nodes in an order where every node follows the producers of its inputs (Kahn's algorithm, stable with
   * respect to `graph.node`). Exporters usually write nodes sorted already, but the ONNX spec only requires it
   * and rewriters that append nodes may break it.
   */
  topologicalOrder(): NodeProto[] {
    if (this.order) return this.order;
    const nodes = this.graph.node;
    const pending = nodes.map((node) => new Set(node.input.filter((name) => name && this.producers.has(name))).size);
    const ready: number[] = [];
    pending.forEach((count, index) => count === 0 && ready.push(index));
    const order: NodeProto[] = [];
    const seen = new Set<string>();
    // A min-heap would keep exact stability; a sorted insert is fine for graphs of a few thousand nodes.
    while (ready.length > 0) {
      ready.sort((a, b) => a - b);
      const index = ready.shift()!;
      const node = nodes[index];
      order.push(node);
      for (const output of node.output) {
        if (!output || seen.has(output)) continue;
        seen.add(output);
        // A node that reads the same tensor twice is counted once in `pending`.
        const readers = new Set(this.consumers(output).map((consumer) => consumer.index));
        for (const reader of readers) if (--pending[reader] === 0) ready.push(reader);
      }
    }
    if (order.length !== nodes.length) throw new Error(`graph has a cycle: ${nodes.length - order.length} nodes never become ready`);
    this.order = order;
    return order;
  }

  /**
   * Walks upward from `tensor` through data-moving operators (first input only) and returns the first tensor
   * whose producer is not one of `through`, with that producer.
   *
   * Example: for `k → Transpose → Reshape → t`, `followUp('t')` gives `{tensor: 'k', producer: <node of k>, path: [Reshape, Transpose]}`.
   */
  followUp(tensor: string, through: ReadonlySet<string> = PASS_THROUGH_OPS): { tensor: string; producer?: Producer; path: NodeProto[] } {
    const path: NodeProto[] = [];
    let current = tensor;
    for (;;) {
      const producer = this.producer(current);
      if (!producer || producer.node.domain !== '' || !through.has(producer.node.opType)) return { tensor: current, producer, path };
      path.push(producer.node);
      current = producer.node.input[0];
    }
  }

  /** Like `followUp`, but returns the node only when its op type is one of `opTypes`. */
  findUp(tensor: string, opTypes: readonly string[], through: ReadonlySet<string> = PASS_THROUGH_OPS): Producer | undefined {
    const found = this.followUp(tensor, through).producer;
    return found && opTypes.includes(found.node.opType) ? found : undefined;
  }

  /** Every tensor name used anywhere in the graph (inputs, outputs, initializers, node inputs and outputs). */
  allNames(): Set<string> {
    const names = new Set<string>([...this.inputNames, ...this.outputNames, ...this.initializers.keys()]);
    for (const node of this.graph.node) {
      for (const name of node.input) if (name) names.add(name);
      for (const name of node.output) if (name) names.add(name);
      if (node.name) names.add(node.name);
    }
    return names;
  }

  /** Static dims of a tensor declared in graph inputs, outputs or value_info (symbolic dims as strings). */
  declaredDims(name: string): (number | string)[] | undefined {
    const info = [...this.graph.input, ...this.graph.output, ...this.graph.valueInfo].find((v) => v.name === name);
    const type = info?.type?.value;
    if (!type || type.case !== 'tensorType' || !type.value.shape) return undefined;
    return type.value.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'));
  }

  /** Element type declared for a tensor (graph inputs/outputs/value_info or a constant), if any. */
  declaredElemType(name: string): number | undefined {
    const constant = this.constantTensor(name) ?? this.initializers.get(name);
    if (constant) return constant.dataType;
    const info = [...this.graph.input, ...this.graph.output, ...this.graph.valueInfo].find((v) => v.name === name);
    const type = info?.type?.value;
    return type && type.case === 'tensorType' ? type.value.elemType : undefined;
  }
}
