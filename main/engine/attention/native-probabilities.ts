// Attention probabilities that onnxruntime computes itself: GroupQueryAttention's 4th output with qk_output = 2
// holds the post-softmax probabilities [batch, heads, query, total] (CPU kernel only; other execution providers
// refuse the attribute). Asking the fused kernel for them avoids replacing it by the decomposition, which is
// slower. Measured here (2 shared cores under load, intra-op threads 1, median of 20 instrumented forward passes,
// T = 256): llama-fused-gqa 20.7 ms with the kernel's output vs 22.4 ms decomposed; -gqa-rope 20.1 vs 22.2;
// -gqa-qknorm 20.4 vs 22.5; -gqa-bias-sink 20.5 vs 25.6; -gqa-smooth 21.2 vs 23.9 (T = 64: 2.3–2.5 vs 2.7 ms).
// test/integration/attention/native-probabilities.test.ts checks both give the same rows (≤ 8e-7 apart) and
// prints these times with ATTENTION_TIMING_REPEATS=20 ATTENTION_TIMING_LENGTH=256.
import { makeAttribute, type ModelProto, type NodeProto } from '../onnx/proto';
import { intAttribute } from '../onnx/decompose/common';
import { operatorKey } from '../onnx/decompose';

export const GQA_KEY = 'com.microsoft:GroupQueryAttention';

/** A GroupQueryAttention node rewritten to return its probabilities, and where they are. */
export interface NativeSite {
  /** The fused node's name (or its probabilities when unnamed): a provenance label. */
  name: string;
  probabilities: string;
}

/**
 * A copy of `model` whose GroupQueryAttention nodes output their probabilities (qk_output = 2), and those outputs
 * in node order. Nodes already writing pre-softmax scores (qk_output = 1) to a used output are left alone and not
 * returned (the caller decomposes them).
 */
export function exposeNativeProbabilities(model: ModelProto): { model: ModelProto; sites: NativeSite[] } {
  const graph = model.graph!;
  const sites: NativeSite[] = [];
  const taken = new Set(graph.node.flatMap((node) => node.output));
  const node = graph.node.map((original, position): NodeProto => {
    if (operatorKey(original) !== GQA_KEY) return original;
    const mode = intAttribute(original, 'qk_output', 0);
    if (mode === 1 && original.output[3]) return original;
    let probabilities = mode === 2 ? original.output[3] : '';
    if (!probabilities) {
      probabilities = `explain/gqa_probabilities_${position}`;
      while (taken.has(probabilities)) probabilities += '_';
    }
    const output = [...original.output];
    while (output.length < 3) output.push('');
    output[3] = probabilities;
    const attribute = [...original.attribute.filter((a) => a.name !== 'qk_output'), makeAttribute('qk_output', 2)];
    sites.push({ name: original.name || probabilities, probabilities });
    return { ...original, output, attribute };
  });
  return { model: { ...model, graph: { ...graph, node } }, sites };
}
