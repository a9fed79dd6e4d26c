// A float32 graph rewritten to compute in float16, as full-float16 exports are (`model_fp16.onnx` with float16
// activations, and transformers.js' `model_q4f16.onnx`): every float32 weight, graph input and output, Cast target
// and float constant becomes float16, so activations, key/value caches and logits are float16 too. Values beyond
// float16's range (the float32-lowest mask value) are clamped to ±65504, as converters do, so that masks stay finite.
import { DataType, makeAttribute, makeTensor, tensorToArray, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto';
import { toHalfBits } from '../../../shared/float16';

const HALF_MAX = 65504;

function halfTensor(tensor: TensorProto): TensorProto {
  if (tensor.dataType !== DataType.FLOAT) return tensor;
  const values = tensorToArray(tensor) as Float32Array;
  const bits = Uint16Array.from(values, (v) => toHalfBits(Math.max(-HALF_MAX, Math.min(HALF_MAX, v))));
  return makeTensor(tensor.name, bits, tensor.dims.map(Number), DataType.FLOAT16);
}

function halfValueInfo(info: ValueInfoProto): ValueInfoProto {
  const type = info.type?.value;
  if (type?.case !== 'tensorType' || type.value.elemType !== DataType.FLOAT) return info;
  return { ...info, type: { ...info.type!, value: { case: 'tensorType', value: { ...type.value, elemType: DataType.FLOAT16 } } } };
}

function halfAttribute(attribute: AttributeProto, node: NodeProto): AttributeProto {
  if (node.opType === 'Cast' && attribute.name === 'to' && Number(attribute.i) === DataType.FLOAT) return makeAttribute('to', DataType.FLOAT16);
  if (attribute.t && attribute.t.dataType === DataType.FLOAT) return makeAttribute(attribute.name, halfTensor(attribute.t));
  return attribute;
}

/**
 * The float16 twin of a float32 model. Example: `float16Model(buildLlamaModel(spec).model)` declares `logits` and
 * `present.*` as float16 and holds float16 weights; onnxruntime's CPU provider runs the operators it lacks float16
 * kernels for in float32 behind inserted Casts, as it does for real float16 exports.
 */
export function float16Model(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const node = graph.node.map((n) => {
    const attribute = n.attribute.map((a) => halfAttribute(a, n));
    return attribute.some((a, i) => a !== n.attribute[i]) ? { ...n, attribute } : n;
  });
  return {
    ...model,
    graph: {
      ...graph,
      node,
      initializer: graph.initializer.map(halfTensor),
      input: graph.input.map(halfValueInfo),
      output: graph.output.map(halfValueInfo),
      valueInfo: graph.valueInfo.map(halfValueInfo),
    },
  };
}
