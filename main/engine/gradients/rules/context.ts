// What a gradient rule sees: the forward node, static shapes of forward tensors, and helpers that emit ONNX
// nodes for the derivative graph.
//
// Cotangent convention: the cotangent of a forward tensor of shape S has shape [R, ...S], where R is the number
// of targets differentiated together (one answer row each, or 1). Forward activations lack that axis, so a rule
// mixes them with cotangents through ordinary right-aligned broadcasting; only axes it names explicitly (reduce,
// transpose, softmax, concat, …) shift by one. Reshapes use -1 for the leading axis, so one derivative graph
// serves any R.
import { GraphBuilder } from '../../onnx/graph-builder';
import type { NodeProto } from '../../onnx/proto';
import { attributeValue } from '../../onnx/proto';
import type { GraphTools } from '../graph-tools';

/** Thrown for graphs the differentiator cannot handle; names the operator and node. */
export class GradientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GradientError';
  }
}

/** A rule: cotangents of the node's outputs (undefined where none flows) → cotangents of its inputs. */
export type GradientRule = (ctx: RuleContext, outputGrads: (string | undefined)[]) => (string | undefined)[];

export class RuleContext {
  constructor(
    readonly b: GraphBuilder,
    readonly node: NodeProto,
    readonly tools: GraphTools,
    /** Default-domain opset of the model (decides attribute vs input forms of axes). */
    readonly opset: number,
    private readonly shapes: Map<string, number[]>,
    private readonly types: Map<string, number>,
    private readonly needed: boolean[],
    /** The summed cotangent of a tensor whose consumers have all been differentiated already (undefined if none). */
    readonly cotangentOf: (tensor: string) => string | undefined = () => undefined,
  ) {}

  /** Whether input `index` of the node needs a cotangent. */
  needs(index: number): boolean {
    return this.needed[index] === true;
  }

  input(index: number): string {
    return this.node.input[index];
  }

  output(index: number): string {
    return this.node.output[index];
  }

  /** Static forward shape of a tensor (from the shape probe). */
  shape(name: string): number[] {
    const shape = this.shapes.get(name);
    if (!shape) throw new GradientError(`No shape known for tensor '${name}' (node '${this.node.name}', ${this.node.opType})`);
    return shape;
  }

  /** Float element type of a forward tensor on the differentiated path. */
  elemType(name: string): number {
    const type = this.types.get(name);
    if (type === undefined) throw new GradientError(`No element type known for tensor '${name}' (node '${this.node.name}')`);
    return type;
  }

  attribute(name: string, fallback: number): number;
  attribute(name: string, fallback: string): string;
  attribute(name: string, fallback: number[]): number[];
  attribute(name: string, fallback: number | string | number[]): number | string | number[] {
    const value = attributeValue(this.node, name);
    return (value === undefined ? fallback : value) as number | string | number[];
  }

  fail(reason: string): never {
    throw new GradientError(`Cannot differentiate ${this.node.opType} node '${this.node.name}': ${reason}`);
  }

  /** A float constant with the element type of tensor `like`. */
  constant(values: number | number[], like: string, dims?: number[]): string {
    return this.b.floatOf(this.elemType(like), values, dims, 'grad_const');
  }

  ints(values: number[]): string {
    return this.b.int64(values, [values.length], 'grad_ints');
  }

  op(opType: string, inputs: string[], attributes: Record<string, number | number[] | string | undefined> = {}, domain?: string): string {
    return this.b.op(opType, inputs, attributes, { domain, name: this.b.fresh(`grad_${opType}`) });
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  /** Reshapes a cotangent to [R, ...shape]. */
  reshape(grad: string, shape: number[]): string {
    return this.op('Reshape', [grad, this.ints([-1, ...shape])]);
  }

  /** ReduceSum in the form the opset wants (axes input from opset 13). */
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    const keep = keepdims ? 1 : 0;
    if (this.opset >= 13) return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: keep });
    return this.op('ReduceSum', [x], { axes, keepdims: keep });
  }

  /** ReduceMean of a forward tensor (axes input from opset 18). */
  reduceMean(x: string, axes: number[], keepdims: boolean): string {
    const keep = keepdims ? 1 : 0;
    if (this.opset >= 18) return this.op('ReduceMean', [x, this.ints(axes)], { keepdims: keep });
    return this.op('ReduceMean', [x], { axes, keepdims: keep });
  }

  /**
   * Sums a cotangent of a broadcast result (forward shape `from`) down to forward shape `to`: the axes that
   * broadcasting added or stretched. The leading target axis is never summed.
   */
  reduceTo(grad: string, from: number[], to: number[]): string {
    const offset = from.length - to.length;
    if (offset < 0) this.fail(`broadcast result of rank ${from.length} is smaller than its input of rank ${to.length}`);
    const axes: number[] = [];
    for (let axis = 0; axis < from.length; axis++) {
      if (axis < offset) axes.push(axis + 1);
      else if (to[axis - offset] === 1 && from[axis] !== 1) axes.push(axis + 1);
    }
    const summed = this.reduceSum(grad, axes, true);
    return offset > 0 ? this.reshape(summed, to) : summed;
  }

  /** Normalises a possibly negative axis of a forward tensor of the given rank. */
  axis(value: number, rank: number): number {
    return value < 0 ? value + rank : value;
  }
}
