// com.microsoft.SimplifiedLayerNormalization (RMSNorm, Zhang & Sennrich 2019) in standard operators:
//   y = x / √(mean(x², axis…) + ε) · scale
// computed in float32 (the kernel's stash_type) and cast back for float16 inputs. Optional output 1 is the
// inverse standard deviation 1/√(mean(x²) + ε).
import { DataType, type NodeProto } from '../proto';
import { Emit, floatAttribute, floatTypeOf, intAttribute, optionalOutput, type DecomposeContext, type DecomposeResult } from './common';

/** RMS-normalises `x` over axes axis … −1 (axis < 0 counts from the end; rank needed only for axis ≥ 0). */
export function rmsNormalize(
  emit: Emit,
  x: string,
  scale: string,
  options: { epsilon: number; axis: number; elemType: number; rank?: number; output?: string; inverseStdDev?: string },
): string {
  const b = emit.b;
  const wide = options.elemType !== DataType.FLOAT && options.elemType !== DataType.DOUBLE;
  const computeType = wide ? DataType.FLOAT : options.elemType;
  const input = wide ? b.op('Cast', [x], { to: DataType.FLOAT }) : x;
  let axes: number[];
  if (options.axis < 0) axes = Array.from({ length: -options.axis }, (_, i) => options.axis + i);
  else if (options.rank !== undefined) axes = Array.from({ length: options.rank - options.axis }, (_, i) => options.axis + i);
  else axes = [-1];
  const meanSquare = emit.reduce('ReduceMean', b.op('Mul', [input, input]), axes, 1);
  const inverse = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [meanSquare, emit.scalar(computeType, options.epsilon)])])]);
  if (options.inverseStdDev) emit.rename(inverse, options.inverseStdDev);
  let normalized = b.op('Mul', [input, inverse]);
  if (wide) normalized = b.op('Cast', [normalized], { to: options.elemType });
  return b.ops('Mul', [normalized, scale], {}, options.output ? { outputNames: [options.output] } : {})[0];
}

export function decomposeSimplifiedLayerNormalization(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const dims = context.index.declaredDims(node.input[0]);
  rmsNormalize(emit, node.input[0], node.input[1], {
    epsilon: floatAttribute(node, 'epsilon') ?? 1e-5,
    axis: intAttribute(node, 'axis', -1),
    elemType: floatTypeOf(context.index, node.input[1]),
    rank: dims?.length,
    output: node.output[0],
    inverseStdDev: optionalOutput(node, 1),
  });
  return {};
}
