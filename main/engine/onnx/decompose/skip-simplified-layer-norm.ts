// com.microsoft.SkipSimplifiedLayerNormalization in standard operators:
//   s = input + skip (+ bias);  output = RMSNorm(s) · gamma  (last axis)
// Outputs: 0 output, 1 mean (unused by RMSNorm; not produced), 2 inv_std_var, 3 input_skip_bias_sum (= s).
import type { NodeProto } from '../proto';
import { Emit, floatAttribute, floatTypeOf, optionalInput, optionalOutput, UnsupportedFusedOperatorError, type DecomposeContext, type DecomposeResult } from './common';
import { rmsNormalize } from './simplified-layer-norm';

export function decomposeSkipSimplifiedLayerNormalization(node: NodeProto, context: DecomposeContext): DecomposeResult {
  const emit = new Emit(context.builder, context.opset);
  const b = emit.b;
  if (optionalOutput(node, 1) && context.index.consumers(node.output[1]).length > 0) {
    throw new UnsupportedFusedOperatorError(node, 'the mean output');
  }
  let sum = b.op('Add', [node.input[0], node.input[1]]);
  const bias = optionalInput(node, 3);
  if (bias) sum = b.op('Add', [sum, bias]);
  rmsNormalize(emit, sum, node.input[2], {
    epsilon: floatAttribute(node, 'epsilon') ?? 1e-12,
    axis: -1,
    elemType: floatTypeOf(context.index, node.input[2]),
    output: node.output[0],
    inverseStdDev: optionalOutput(node, 2),
  });
  const sumName = optionalOutput(node, 3);
  if (sumName) emit.rename(sum, sumName);
  return {};
}
