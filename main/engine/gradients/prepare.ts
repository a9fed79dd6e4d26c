// Brings a model into the form the differentiator handles: fused com.microsoft operators replaced by standard
// ones (helper D's decompositions), and one float type throughout. float16 models are differentiated in
// float32 (half precision cotangents underflow and onnxruntime lacks many float16 CPU kernels); tests convert
// to float64 for sharp finite differences.
import { decomposeModel } from '../onnx/decompose';
import { dequantizeDynamic } from './dequantize-dynamic';
import { DataType, makeAttribute, makeTensor, tensorToArray, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto';
import { decodeFloat16 } from '../../../shared/float16';
import { withGraph } from './graph-tools';

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]);

/**
 * Dequantizes q8 weights (dequantize-dynamic.ts), decomposes fused operators and converts every float tensor, Cast
 * and constant to `floatType`.
 */
export function prepareForGradients(model: ModelProto, floatType: number = DataType.FLOAT): ModelProto {
  const decomposed = decomposeModel(dequantizeDynamic(model)).model;
  return convertFloatType(decomposed, floatType);
}

/** Float values of a tensor as a plain array of numbers (float16 decoded). */
export function floatValues(tensor: TensorProto): Float32Array | Float64Array {
  const data = tensorToArray(tensor);
  if (tensor.dataType === DataType.FLOAT16) return decodeFloat16(data as Uint16Array);
  if (data instanceof Float32Array || data instanceof Float64Array) return data;
  throw new Error(`tensor '${tensor.name}' is not a float tensor (type ${tensor.dataType})`);
}

function convertTensor(tensor: TensorProto, floatType: number): TensorProto {
  if (!FLOATS.has(tensor.dataType) || tensor.dataType === floatType) return tensor;
  const values = floatValues(tensor);
  const converted = floatType === DataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
  return makeTensor(tensor.name, converted, tensor.dims.map(Number));
}

function convertValueInfo(info: ValueInfoProto, floatType: number): ValueInfoProto {
  const type = info.type?.value;
  if (type?.case !== 'tensorType' || !FLOATS.has(type.value.elemType) || type.value.elemType === floatType) return info;
  return { ...info, type: { ...info.type!, value: { case: 'tensorType', value: { ...type.value, elemType: floatType } } } };
}

function convertAttribute(attribute: AttributeProto, node: NodeProto, floatType: number): AttributeProto {
  if (node.opType === 'Cast' && attribute.name === 'to' && FLOATS.has(Number(attribute.i))) return makeAttribute('to', floatType);
  if (attribute.t && (node.opType === 'Constant' || node.opType === 'ConstantOfShape')) {
    const converted = convertTensor(attribute.t, floatType);
    return converted === attribute.t ? attribute : makeAttribute(attribute.name, converted);
  }
  if (attribute.name === 'dtype' && FLOATS.has(Number(attribute.i))) return makeAttribute('dtype', floatType);
  return attribute;
}

/** A copy of the model computing in one float type (weights, inputs, outputs, Casts, constants). */
export function convertFloatType(model: ModelProto, floatType: number): ModelProto {
  const graph = model.graph!;
  const node = graph.node.map((n) => {
    const attribute = n.attribute.map((a) => convertAttribute(a, n, floatType));
    return attribute.some((a, i) => a !== n.attribute[i]) ? { ...n, attribute } : n;
  });
  return withGraph(model, {
    node,
    initializer: graph.initializer.map((t) => convertTensor(t, floatType)),
    input: graph.input.map((i) => convertValueInfo(i, floatType)),
    output: graph.output.map((o) => convertValueInfo(o, floatType)),
    valueInfo: [],
  });
}
