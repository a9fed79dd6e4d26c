// Shared plumbing for fused-operator decompositions: the context a decomposer gets, opset-aware helpers for
// operators whose signature changed between opsets, and static-dimension lookups.
//
// Every decomposer writes standard ONNX nodes (default domain, opset ≥ 13) that produce the fused node's own
// output names, so the rest of the graph is untouched. Runtime shapes come from Shape nodes where a size is not
// known statically; sizes known from constants (weights, caches, attributes) are baked in as constants so that
// derivative graphs see constants, not shape arithmetic.
import { GraphBuilder } from '../graph-builder';
import type { GraphIndex } from '../graph-index';
import { attributeValue, DataType, type NodeProto } from '../proto';

/** What a decomposer may use. `builder` collects the replacement nodes and any new initializers. */
export interface DecomposeContext {
  builder: GraphBuilder;
  index: GraphIndex;
  /** Version of the default ONNX domain imported by the model. */
  opset: number;
}

/** What a decomposer reports back. */
export interface DecomposeResult {
  /** For attention operators: the post-softmax probabilities [batch, heads, query, key] it now computes. */
  probabilities?: string;
  /** For attention operators: the scaled scores before masking [batch, heads, query, key]. */
  scores?: string;
  /** Query and key tensors right before the score MatMul: [batch, heads, query, headDim], [batch, heads, key, headDim]. */
  query?: string;
  key?: string;
}

export type Decomposer = (node: NodeProto, context: DecomposeContext) => DecomposeResult;

/** Raised for a fused operator configuration that the decomposition does not cover (named in the message). */
export class UnsupportedFusedOperatorError extends Error {
  constructor(node: NodeProto, what: string) {
    super(`${node.domain ? node.domain + '.' : ''}${node.opType} node "${node.name}": ${what} is not supported by the decomposition`);
    this.name = 'UnsupportedFusedOperatorError';
  }
}

export const INT64_MAX = 9223372036854775807n;

/** The most negative finite value of a float type: masked scores, without inf arithmetic in backward passes. */
export function lowest(elemType: number): number {
  return elemType === DataType.FLOAT16 ? -65504 : elemType === DataType.DOUBLE ? -1.7976931348623157e308 : -3.4028234663852886e38;
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const value = attributeValue(node, name);
  return typeof value === 'number' ? value : fallback;
}

export function floatAttribute(node: NodeProto, name: string): number | undefined {
  const value = attributeValue(node, name);
  return typeof value === 'number' ? value : undefined;
}

/** Input `i` of a node, or undefined when it is absent or the empty name (an omitted optional input). */
export function optionalInput(node: NodeProto, i: number): string | undefined {
  const name = node.input[i];
  return name ? name : undefined;
}

/** Output `i` of a node when it is present and used. */
export function optionalOutput(node: NodeProto, i: number): string | undefined {
  const name = node.output[i];
  return name ? name : undefined;
}

/**
 * Float element type of a tensor: declared type if any, else the type implied by the nearest producer that
 * fixes it (a Cast's `to`, a constant operand), walking upward a few steps. Defaults to float32.
 */
export function floatTypeOf(index: GraphIndex, tensor: string): number {
  const seen = new Set<string>();
  const queue = [tensor];
  while (queue.length > 0 && seen.size < 64) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const declared = index.declaredElemType(name);
    if (declared === DataType.FLOAT || declared === DataType.FLOAT16 || declared === DataType.DOUBLE || declared === DataType.BFLOAT16) return declared;
    const producer = index.producer(name)?.node;
    if (!producer) continue;
    if (producer.opType === 'Cast') return Number(attributeValue(producer, 'to'));
    for (const input of producer.input) if (input) queue.push(input);
  }
  return DataType.FLOAT;
}

/**
 * Last dimension of a tensor when it can be known without running the graph: declared shapes, a constant
 * operand of the producing MatMul/Gemm/Add, MatMulNBits' `N`, a Reshape's constant target.
 */
export function staticLastDim(index: GraphIndex, tensor: string, depth = 0): number | undefined {
  if (depth > 8) return undefined;
  const declared = index.declaredDims(tensor);
  const last = declared?.[declared.length - 1];
  if (typeof last === 'number') return last;
  const constant = index.constantDims(tensor);
  if (constant) return constant[constant.length - 1];
  const producer = index.producer(tensor)?.node;
  if (!producer) return undefined;
  switch (producer.opType) {
    case 'MatMul': {
      const dims = index.constantDims(producer.input[1]);
      return dims ? dims[dims.length - 1] : undefined;
    }
    case 'MatMulNBits':
      return intAttribute(producer, 'N', 0) || undefined;
    case 'Gemm': {
      const dims = index.constantDims(producer.input[1]);
      if (!dims) return undefined;
      return intAttribute(producer, 'transB', 0) ? dims[0] : dims[dims.length - 1];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      for (const input of producer.input) {
        const found = staticLastDim(index, input, depth + 1);
        if (found !== undefined && found !== 1) return found;
      }
      return undefined;
    }
    case 'Reshape': {
      const target = index.constantNumbers(producer.input[1]);
      const value = target?.[target.length - 1];
      return value !== undefined && value > 0 ? value : undefined;
    }
    case 'Cast':
    case 'Identity':
    case 'Relu':
    case 'Tanh':
    case 'Sigmoid':
      return staticLastDim(index, producer.input[0], depth + 1);
    default:
      return undefined;
  }
}

/** Opset-aware small emitters. */
export class Emit {
  constructor(
    readonly b: GraphBuilder,
    readonly opset: number,
  ) {}

  unsqueeze(x: string, axes: number[]): string {
    return this.b.op('Unsqueeze', [x, this.b.int64(axes)]);
  }

  squeeze(x: string, axes: number[]): string {
    return this.b.op('Squeeze', [x, this.b.int64(axes)]);
  }

  reduce(op: 'ReduceMean' | 'ReduceSum' | 'ReduceMax', x: string, axes: number[], keepdims = 1): string {
    const axesAsInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    return axesAsInput ? this.b.op(op, [x, this.b.int64(axes)], { keepdims }) : this.b.op(op, [x], { axes, keepdims });
  }

  /** Slice with constant or runtime bounds (a tensor name holds a 1-D int64). */
  slice(x: string, starts: number[] | bigint[] | string, ends: number[] | bigint[] | string, axes: number[]): string {
    const bound = (value: number[] | bigint[] | string) =>
      typeof value === 'string' ? value : this.b.initializer(this.b.fresh('slice_bound'), BigInt64Array.from((value as Array<number | bigint>).map((v) => BigInt(v))), [value.length]);
    return this.b.op('Slice', [x, bound(starts), bound(ends), this.b.int64(axes)]);
  }

  /** Split along `axis` into pieces of the given sizes (constants or a runtime 1-D int64 tensor). */
  split(x: string, sizes: number[] | string, axis: number, count: number): string[] {
    const sizeInput = typeof sizes === 'string' ? sizes : this.b.int64(sizes);
    return this.b.ops('Split', [x, sizeInput], { axis }, { outputs: count });
  }

  /** Runtime dimension `axis` of `x` as a 1-D int64 tensor of length 1. */
  dim(x: string, axis: number): string {
    const shape = this.b.op('Shape', [x]);
    return this.b.op('Gather', [shape, this.b.int64([axis])], { axis: 0 });
  }

  /** Runtime dimensions [start, end) of `x` as a 1-D int64 tensor. */
  dims(x: string, start: number, end?: number): string {
    const shape = this.b.op('Shape', [x]);
    return this.slice(shape, [BigInt(start)], [end !== undefined ? BigInt(end) : INT64_MAX], [0]);
  }

  /** Float scalar constant of the given element type. */
  scalar(elemType: number, value: number): string {
    return this.b.floatOf(elemType, value, []);
  }

  /** Writes `x` under `name` (an existing output name of the fused node). */
  rename(x: string, name: string): void {
    this.b.ops('Identity', [x], {}, { outputNames: [name] });
  }
}
