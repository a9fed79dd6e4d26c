// The q4 variant of a built graph, as onnxruntime's MatMul4BitsQuantizer writes `*_q4.onnx`: every MatMul whose
// second input is a constant float32 [K, N] initializer becomes com.microsoft MatMulNBits (4 bits, symmetric blocks
// along K, quantize.ts), in the main graph and inside If branches (the merged decoder's), which read the outer
// initializers. Embedding lookups and everything else stay float32.
import { DataType, makeNode, makeTensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';
import { quantize4Bit } from './quantize';

const MICROSOFT = 'com.microsoft';

/** A copy of `model` with its constant-weight MatMuls as 4-bit MatMulNBits (block size `blockSize`). */
export function quantizeMatMuls4Bit(model: ModelProto, blockSize = 32): ModelProto {
  const graph = model.graph!;
  const weights = new Map(graph.initializer.filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2).map((t) => [t.name, t]));
  const replaced = new Map<string, { packed: TensorProto; scales: TensorProto; k: number; n: number }>();
  const quantized = (name: string) => {
    let entry = replaced.get(name);
    if (!entry) {
      const tensor = weights.get(name)!;
      const [k, n] = tensor.dims.map(Number);
      const q = quantize4Bit(new Float32Array(new Uint8Array(tensor.rawData).buffer), k, n, blockSize);
      entry = { packed: makeTensor(`${name}_Q4`, q.packed, [n, q.blocks, blockSize / 2]), scales: makeTensor(`${name}_scales`, q.scales, [n * q.blocks]), k, n };
      replaced.set(name, entry);
    }
    return entry;
  };
  const rewrite = (g: GraphProto): GraphProto => ({
    ...g,
    node: g.node.map((node): NodeProto => {
      if (node.opType === 'If') {
        return { ...node, attribute: node.attribute.map((a) => (a.g ? { ...a, g: rewrite(a.g) } : a)) };
      }
      if (node.opType !== 'MatMul' || node.domain !== '' || !weights.has(node.input[1])) return node;
      const q = quantized(node.input[1]);
      return makeNode('MatMulNBits', [node.input[0], q.packed.name, q.scales.name], node.output, node.name, { K: q.k, N: q.n, bits: 4, block_size: blockSize, accuracy_level: 0 }, MICROSOFT);
    }),
  });
  const node = rewrite(graph).node;
  // A float weight stays only where something else still reads it.
  const read = new Set<string>();
  const collect = (nodes: NodeProto[]): void => {
    for (const n of nodes) {
      n.input.forEach((i) => read.add(i));
      for (const a of n.attribute) if (a.g) collect(a.g.node);
    }
  };
  collect(node);
  const initializer = [...graph.initializer.filter((t) => !replaced.has(t.name) || read.has(t.name)), ...[...replaced.values()].flatMap((q) => [q.packed, q.scales])];
  const opsetImport = model.opsetImport.some((o) => o.domain === MICROSOFT) ? model.opsetImport : [...model.opsetImport, { ...model.opsetImport[0], domain: MICROSOFT, version: 1n }];
  return { ...model, opsetImport, graph: { ...graph, node, initializer } };
}
