// A small imperative builder for ONNX graphs: fixture models, instrumented graphs and derivative graphs
// are all written with it, so node naming and constant handling live in one place.
import {
  DataType,
  makeGraph,
  makeModel,
  makeNode,
  makeTensor,
  makeValueInfo,
  type AttributeValue,
  type Dim,
  type ModelProto,
  type NodeProto,
  type TensorData,
  type TensorProto,
  type ValueInfoProto,
} from './proto';
import { toHalfBits } from '../../../shared/float16';

export interface OpOptions {
  /** Number of outputs (default 1). */
  outputs?: number;
  /** Explicit output names (overrides `outputs`). */
  outputNames?: string[];
  /** Node name; a unique one is made from the op type otherwise. */
  name?: string;
  domain?: string;
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(
    readonly name = 'main_graph',
    /** Prefix for generated names, so graphs appended to an existing model cannot clash with it. */
    readonly prefix = '',
  ) {}

  /** Registers names that already exist (e.g. when extending a decoded graph). */
  reserve(names: Iterable<string>): void {
    for (const n of names) this.used.add(n);
  }

  /** A fresh tensor or node name starting with `hint`. */
  fresh(hint: string): string {
    let candidate = `${this.prefix}${hint}`;
    while (this.used.has(candidate)) candidate = `${this.prefix}${hint}_${++this.counter}`;
    this.used.add(candidate);
    return candidate;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.used.add(name);
    this.inputs.push(makeValueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output; type and shape are optional (onnxruntime infers them). */
  output(name: string, elemType?: number, dims?: Dim[]): string {
    this.outputs.push(makeValueInfo(name, elemType, dims));
    return name;
  }

  initializer(name: string, data: TensorData, dims: number[], dataType?: number): string {
    const unique = this.used.has(name) ? this.fresh(name) : (this.used.add(name), name);
    this.initializers.push(makeTensor(unique, data, dims, dataType));
    return unique;
  }

  /** A float32 constant (scalar when `dims` is `[]`). */
  float(values: number | number[], dims?: number[], hint = 'const_f'): string {
    const data = Float32Array.from(typeof values === 'number' ? [values] : values);
    return this.initializer(this.fresh(hint), data, dims ?? (typeof values === 'number' ? [] : [data.length]));
  }

  /** A float constant of the given ONNX element type (float32, float64 or float16). */
  floatOf(elemType: number, values: number | number[], dims?: number[], hint = 'const_f'): string {
    if (elemType === DataType.FLOAT) return this.float(values, dims, hint);
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    if (elemType === DataType.DOUBLE) return this.initializer(this.fresh(hint), Float64Array.from(list), shape);
    if (elemType === DataType.FLOAT16) return this.initializer(this.fresh(hint), Uint16Array.from(list.map(toHalfBits)), shape, DataType.FLOAT16);
    throw new Error(`floatOf: unsupported element type ${elemType}`);
  }

  /** An int64 constant (1-D by default; scalar when `dims` is `[]`). */
  int64(values: number | number[], dims?: number[], hint = 'const_i'): string {
    const data = BigInt64Array.from((typeof values === 'number' ? [values] : values).map((v) => BigInt(v)));
    return this.initializer(this.fresh(hint), data, dims ?? (typeof values === 'number' ? [] : [data.length]));
  }

  /** Adds a node and returns its outputs. */
  ops(opType: string, inputs: string[], attributes: Record<string, AttributeValue | undefined> = {}, options: OpOptions = {}): string[] {
    const base = options.name ?? this.fresh(`${opType}`);
    if (options.name) this.used.add(options.name);
    const outputs = options.outputNames ?? Array.from({ length: options.outputs ?? 1 }, (_, i) => this.fresh(`${base}_out${i}`));
    for (const o of outputs) this.used.add(o);
    this.nodes.push(makeNode(opType, inputs, outputs, base, attributes, options.domain ?? ''));
    return outputs;
  }

  /** Adds a single-output node and returns the output name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue | undefined> = {}, options: OpOptions = {}): string {
    return this.ops(opType, inputs, attributes, options)[0];
  }

  build(opsets: Record<string, number> = { '': 17 }): ModelProto {
    return makeModel(
      makeGraph({ name: this.name, nodes: this.nodes, inputs: this.inputs, outputs: this.outputs, initializers: this.initializers }),
      opsets,
    );
  }
}
