// Node naming in the style of optimum's TorchScript exports: nodes are named after the module path
// ("/model/layers.0/self_attn/q_proj/MatMul"), repeated op types within one module get "_1", "_2" suffixes,
// and a node's output is "<node name>_output_0". Attention and gradient code may match these names in
// manual mode, so they follow the real exports.
import type { GraphBuilder, OpOptions } from '../onnx/graph-builder';
import type { AttributeValue } from '../onnx/proto';

export class Scope {
  constructor(
    readonly graph: GraphBuilder,
    readonly path: string,
    private readonly counts: Map<string, number> = new Map(),
  ) {}

  /** The scope of a submodule, e.g. `scope.child('self_attn')`. */
  child(name: string): Scope {
    return new Scope(this.graph, `${this.path}/${name}`, this.counts);
  }

  /** Adds a node named after this scope and its op type; returns its output names. */
  ops(opType: string, inputs: string[], attributes: Record<string, AttributeValue | undefined> = {}, options: OpOptions = {}): string[] {
    const base = `${this.path}/${opType}`;
    const seen = this.counts.get(base) ?? 0;
    this.counts.set(base, seen + 1);
    const name = seen === 0 ? base : `${base}_${seen}`;
    const outputNames =
      options.outputNames ?? Array.from({ length: options.outputs ?? 1 }, (_, i) => `${name}_output_${i}`);
    return this.graph.ops(opType, inputs, attributes, { ...options, name, outputNames });
  }

  /** Adds a single-output node; returns its output name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue | undefined> = {}, options: OpOptions = {}): string {
    return this.ops(opType, inputs, attributes, options)[0];
  }
}
