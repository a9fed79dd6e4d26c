// The one module that touches onnx-buf: decode/encode ModelProto and small constructors for its messages.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  StringStringEntryProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

export type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto };
export { TensorProto_DataType as DataType };

/** A dimension: a fixed size or a symbolic name such as "batch_size". */
export type Dim = number | string;

/** Attribute values accepted by `makeAttribute`; arrays of numbers are ints unless `floats` is forced. */
export type AttributeValue = number | bigint | string | number[] | bigint[] | TensorProto | GraphProto | { floats: number[] } | { float: number };

export function decodeModel(bytes: Uint8Array): ModelProto {
  const model = fromBinary(ModelProtoSchema, bytes);
  if (model.graph) ownDefaults(model.graph);
  return model;
}

/** Copies a field's value onto the object itself when it only comes from the message prototype. */
function own(message: object, keys: readonly string[]): void {
  const record = message as Record<string, unknown>;
  for (const key of keys) if (!Object.hasOwn(record, key)) record[key] = record[key];
}

/**
 * Decoded proto2 messages keep unset scalar fields (a node's empty `domain`, an attribute's `i`) on their prototype,
 * so `{ ...node }` would drop them. Exporters such as torch.onnx leave them unset; the graph rewriters copy nodes by
 * spreading, so every message they copy gets its defaults as own fields here.
 */
function ownDefaults(graph: GraphProto): void {
  own(graph, ['name']);
  for (const node of graph.node) {
    own(node, ['name', 'opType', 'domain', 'overload']);
    for (const attribute of node.attribute) {
      own(attribute, ['name', 'type']); // value fields stay unset: a set field counts as the attribute's value
      if (attribute.g) ownDefaults(attribute.g);
      for (const sub of attribute.graphs) ownDefaults(sub);
      if (attribute.t) own(attribute.t, ['name', 'dataType']);
    }
  }
  for (const tensor of graph.initializer) own(tensor, ['name', 'dataType']);
  for (const info of [...graph.input, ...graph.output, ...graph.valueInfo]) own(info, ['name']);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

/** One opset import entry, e.g. `opsetEntry('com.microsoft', 1)`. */
export function opsetEntry(domain: string, version: number): ModelProto['opsetImport'][number] {
  return create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) });
}

export function makeModel(graph: GraphProto, opsets: Record<string, number>, producer = 'llm-explainer'): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 10n,
    producerName: producer,
    producerVersion: '0.1.0',
    graph,
    opsetImport: Object.entries(opsets).map(([domain, version]) => opsetEntry(domain, version)),
  });
}

export function makeGraph(fields: {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers: TensorProto[];
}): GraphProto {
  return create(GraphProtoSchema, {
    name: fields.name,
    node: fields.nodes,
    input: fields.inputs,
    output: fields.outputs,
    initializer: fields.initializers,
  });
}

export function makeValueInfo(name: string, elemType?: number, dims?: Dim[]): ValueInfoProto {
  if (elemType === undefined) return create(ValueInfoProtoSchema, { name });
  const tensorType = create(TypeProto_TensorSchema, {
    elemType,
    shape:
      dims === undefined
        ? undefined
        : create(TensorShapeProtoSchema, {
            dim: dims.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
  });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Record<string, AttributeValue | undefined> = {},
  domain = '',
): NodeProto {
  const attribute = Object.entries(attributes)
    .filter((entry): entry is [string, AttributeValue] => entry[1] !== undefined)
    .map(([key, value]) => makeAttribute(key, value));
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name, attribute, domain });
}

export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(value) })
      : create(AttributeProtoSchema, { name, type: T.FLOAT, f: value });
  }
  if (typeof value === 'bigint') return create(AttributeProtoSchema, { name, type: T.INT, i: value });
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    return create(AttributeProtoSchema, { name, type: T.INTS, ints: (value as Array<number | bigint>).map((v) => BigInt(v)) });
  }
  if ('floats' in value) return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: value.floats });
  if ('float' in value) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.float });
  if (value.$typeName === 'onnx.TensorProto') return create(AttributeProtoSchema, { name, type: T.TENSOR, t: value });
  return create(AttributeProtoSchema, { name, type: T.GRAPH, g: value as GraphProto });
}

/** Reads an attribute of a node as a plain JS value (ints → number, floats → number, string → string). */
export function attributeValue(node: NodeProto, name: string): number | string | number[] | TensorProto | GraphProto | undefined {
  const attribute = node.attribute.find((a) => a.name === name);
  if (!attribute) return undefined;
  const T = AttributeProto_AttributeType;
  switch (attribute.type) {
    case T.INT:
      return Number(attribute.i);
    case T.FLOAT:
      return attribute.f;
    case T.STRING:
      return new TextDecoder().decode(attribute.s);
    case T.INTS:
      return attribute.ints.map(Number);
    case T.FLOATS:
      return attribute.floats;
    case T.TENSOR:
      return attribute.t;
    case T.GRAPH:
      return attribute.g;
    default:
      return undefined;
  }
}

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

/** Element type for a typed array; Uint16Array is taken as float16 bits. */
function dataTypeOf(data: TensorData): number {
  if (data instanceof Float32Array) return TensorProto_DataType.FLOAT;
  if (data instanceof Float64Array) return TensorProto_DataType.DOUBLE;
  if (data instanceof Int32Array) return TensorProto_DataType.INT32;
  if (data instanceof BigInt64Array) return TensorProto_DataType.INT64;
  if (data instanceof Uint8Array) return TensorProto_DataType.UINT8;
  if (data instanceof Int8Array) return TensorProto_DataType.INT8;
  return TensorProto_DataType.FLOAT16;
}

/** A tensor with little-endian raw data (the layout onnxruntime expects). `dims: []` makes a scalar. */
export function makeTensor(name: string, data: TensorData, dims: number[], dataType = dataTypeOf(data)): TensorProto {
  const rawData = new Uint8Array(data.byteLength);
  rawData.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType, rawData });
}

/** Decodes an initializer or Constant tensor held in the model (raw or typed fields) into a typed array. */
export function tensorToArray(tensor: TensorProto): TensorData {
  const T = TensorProto_DataType;
  const count = tensor.dims.reduce((a, d) => a * Number(d), 1);
  if (tensor.rawData.length > 0) {
    // A copy into a fresh ArrayBuffer: when the model was decoded from a Node Buffer, rawData is a view into
    // the whole file, and Buffer#slice would return another view, not a copy.
    const copy = new Uint8Array(tensor.rawData).buffer;
    switch (tensor.dataType) {
      case T.FLOAT:
        return new Float32Array(copy);
      case T.DOUBLE:
        return new Float64Array(copy);
      case T.INT32:
        return new Int32Array(copy);
      case T.INT64:
        return new BigInt64Array(copy);
      case T.INT8:
        return new Int8Array(copy);
      case T.FLOAT16:
        return new Uint16Array(copy);
      default:
        return new Uint8Array(copy);
    }
  }
  switch (tensor.dataType) {
    case T.FLOAT:
      return Float32Array.from(tensor.floatData);
    case T.DOUBLE:
      return Float64Array.from(tensor.doubleData);
    case T.INT64:
      return BigInt64Array.from(tensor.int64Data);
    case T.INT32:
      return Int32Array.from(tensor.int32Data);
    case T.FLOAT16:
      return Uint16Array.from(tensor.int32Data);
    default:
      return new Uint8Array(Math.max(count, tensor.int32Data.length)).map((_, i) => tensor.int32Data[i] ?? 0);
  }
}

export function metadataEntry(key: string, value: string) {
  return create(StringStringEntryProtoSchema, { key, value });
}
