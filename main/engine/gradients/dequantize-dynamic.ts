// transformers.js's q8 files (`model_quantized.onnx`, onnxruntime's quantize_dynamic) store weights as 8-bit
// integers and quantize activations on the fly:
//   xq, xs, xz = DynamicQuantizeLinear(x);  y = Cast(MatMulInteger(xq, Wq, xz, Wz)) · (xs · Ws)
// and look tokens up in an 8-bit table: DequantizeLinear(Gather(Tq, ids), s, z). Rounding x has no useful
// derivative, so explanations differentiate the straight-through model: y = x · W with W = (Wq − Wz) · Ws, the
// weights the file holds (per tensor or per output column), and the table (Tq − z) · s. Its forward differs from
// the q8 file's only by the activation rounding.
import { attributeValue, DataType, makeNode, makeTensor, tensorToArray, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';

const INTEGER_TYPES = new Set<number>([DataType.INT8, DataType.UINT8]);

function integers(tensor: TensorProto | undefined): ArrayLike<number> | undefined {
  if (!tensor || !INTEGER_TYPES.has(tensor.dataType)) return undefined;
  return tensorToArray(tensor) as Int8Array | Uint8Array;
}

function floats(tensor: TensorProto | undefined): ArrayLike<number> | undefined {
  if (!tensor || tensor.dataType !== DataType.FLOAT) return undefined;
  return tensorToArray(tensor) as Float32Array;
}

/**
 * (q − z) · s for a [rows, columns] integer matrix; `z` and `s` hold one value (per tensor) or one per column
 * (`axis` 1) or per row (`axis` 0).
 */
function dequantize(q: ArrayLike<number>, rows: number, columns: number, s: ArrayLike<number>, z: ArrayLike<number> | undefined, axis: number): Float32Array {
  const out = new Float32Array(rows * columns);
  const pick = (values: ArrayLike<number>, r: number, c: number) => (values.length === 1 ? values[0] : axis === 0 ? values[r] : values[c]);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out[r * columns + c] = (q[r * columns + c] - (z ? pick(z, r, c) : 0)) * pick(s, r, c);
  }
  return out;
}

/** The q8 model with float weights (see the file comment); models without the patterns come back unchanged. */
export function dequantizeDynamic(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const replaced = new Map<NodeProto, NodeProto>();
  const dropped = new Set<NodeProto>();
  // Dequantized weights by name: a weight two MatMulIntegers share is dequantized once.
  const initializers = new Map<string, TensorProto>();
  const single = (tensor: string) => {
    const consumers = tools.consumers.get(tensor) ?? [];
    return consumers.length === 1 ? consumers[0] : undefined;
  };
  for (const node of graph.node) {
    if (node.opType === 'MatMulInteger' && !node.domain) {
      const quantize = tools.producer.get(node.input[0]);
      const weight = tools.initializers.get(node.input[1]);
      const q = integers(weight);
      const cast = single(node.output[0]);
      const scaled = cast?.opType === 'Cast' ? single(cast.output[0]) : undefined;
      if (quantize?.opType !== 'DynamicQuantizeLinear' || !q || weight!.dims.length !== 2 || scaled?.opType !== 'Mul') continue;
      if (node.input[2] && node.input[2] !== quantize.output[2]) continue;
      // The other factor of the final Mul is xs · Ws.
      const scales = tools.producer.get(scaled.input[0] === cast!.output[0] ? scaled.input[1] : scaled.input[0]);
      const weightScale = scales?.opType === 'Mul' && scales.input.includes(quantize.output[1]) ? scales.input.find((i) => i !== quantize.output[1]) : undefined;
      const s = floats(tools.initializers.get(weightScale ?? ''));
      const z = node.input[3] ? integers(tools.initializers.get(node.input[3])) : undefined;
      if (!s || (node.input[3] && !z)) continue;
      const [rows, columns] = weight!.dims.map(Number);
      const name = `${weight!.name}::dequantized`;
      if (!initializers.has(name)) initializers.set(name, makeTensor(name, dequantize(q, rows, columns, s, z, 1), [rows, columns]));
      replaced.set(scaled, makeNode('MatMul', [quantize.input[0], name], [scaled.output[0]], `${node.name}::dequantized`));
      dropped.add(node).add(cast!);
    } else if (node.opType === 'DequantizeLinear' && !node.domain) {
      const lookup = tools.producer.get(node.input[0]);
      const table = lookup?.opType === 'Gather' && !lookup.domain ? tools.initializers.get(lookup.input[0]) : undefined;
      const q = integers(table);
      const s = floats(tools.initializers.get(node.input[1]));
      const z = node.input[2] ? integers(tools.initializers.get(node.input[2])) : undefined;
      if (!q || !s || (node.input[2] && !z) || table!.dims.length !== 2 || single(node.input[0]) !== node) continue;
      const [rows, columns] = table!.dims.map(Number);
      const axis = Number(attributeValue(node, 'axis') ?? 1);
      const name = `${table!.name}::dequantized`;
      if (!initializers.has(name)) initializers.set(name, makeTensor(name, dequantize(q, rows, columns, s, z, axis < 0 ? axis + 2 : axis), [rows, columns]));
      replaced.set(node, makeNode('Gather', [name, lookup!.input[1]], [node.output[0]], `${lookup!.name}::dequantized`, { axis: Number(attributeValue(lookup!, 'axis') ?? 0) }));
      dropped.add(lookup!);
    }
  }
  if (replaced.size === 0) return model;
  const node = graph.node.flatMap((n) => (replaced.has(n) ? [replaced.get(n)!] : dropped.has(n) ? [] : [n]));
  return withGraph(model, pruneGraph({ ...graph, node, initializer: [...graph.initializer, ...initializers.values()] }, graph.input.map((i) => i.name)));
}
