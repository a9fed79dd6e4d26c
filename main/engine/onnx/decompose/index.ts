// Replaces fused onnxruntime operators by standard ONNX operators, node for node, keeping every tensor name the
// rest of the graph reads. Used by the attention instrumentation (to expose probabilities as an ordinary Softmax)
// and by the derivative-graph builder (which has gradient rules for standard operators only).
import { GraphBuilder } from '../graph-builder';
import { GraphIndex } from '../graph-index';
import type { ModelProto, NodeProto } from '../proto';
import type { DecomposeResult, Decomposer } from './common';
import { decomposeGroupQueryAttention } from './gqa';
import { decomposeMatMulNBits } from './matmul-nbits';
import { decomposeMicrosoftAttention, decomposeMultiHeadAttention, decomposeOnnxAttention } from './mha';
import { decomposeOnnxRotaryEmbedding } from './onnx-rotary';
import { decomposeRotaryEmbedding } from './rotary';
import { decomposeSimplifiedLayerNormalization } from './simplified-layer-norm';
import { decomposeSkipSimplifiedLayerNormalization } from './skip-simplified-layer-norm';

export { UnsupportedFusedOperatorError, type DecomposeContext, type DecomposeResult, type Decomposer } from './common';

/** Decomposers by "domain:opType" ('' is the default ONNX domain). */
export const DECOMPOSERS: Readonly<Record<string, Decomposer>> = Object.freeze({
  'com.microsoft:GroupQueryAttention': decomposeGroupQueryAttention,
  'com.microsoft:MultiHeadAttention': decomposeMultiHeadAttention,
  'com.microsoft:Attention': decomposeMicrosoftAttention,
  ':Attention': decomposeOnnxAttention,
  'com.microsoft:RotaryEmbedding': decomposeRotaryEmbedding,
  ':RotaryEmbedding': decomposeOnnxRotaryEmbedding,
  // onnxruntime registers SimplifiedLayerNormalization in the default domain; some tools write com.microsoft.
  ':SimplifiedLayerNormalization': decomposeSimplifiedLayerNormalization,
  'com.microsoft:SimplifiedLayerNormalization': decomposeSimplifiedLayerNormalization,
  'com.microsoft:SkipSimplifiedLayerNormalization': decomposeSkipSimplifiedLayerNormalization,
  'com.microsoft:MatMulNBits': decomposeMatMulNBits,
});

/** Fused attention operators (their decomposition reports probabilities). */
export const FUSED_ATTENTION_OPS: readonly string[] = [
  'com.microsoft:GroupQueryAttention',
  'com.microsoft:MultiHeadAttention',
  'com.microsoft:Attention',
  ':Attention',
];

export function operatorKey(node: NodeProto): string {
  const domain = node.domain === 'ai.onnx' ? '' : node.domain;
  return `${domain}:${node.opType}`;
}

export interface DecomposeOptions {
  /** Keys ("domain:opType") to replace; default: every key of DECOMPOSERS. */
  operators?: readonly string[];
}

/** One replaced node and what its decomposition reports. */
export interface DecomposedNode extends DecomposeResult {
  /** Name and key of the fused node that was replaced. */
  name: string;
  operator: string;
  /** Position of the fused node in the original `graph.node`. */
  position: number;
}

/** Version of the default ONNX domain a model imports. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}

/**
 * Returns a copy of `model` with the selected fused operators replaced (the input is not changed; weights are
 * shared, not copied). Replacement nodes take the fused node's place in node order.
 *
 * Example: a model with 2 GroupQueryAttention nodes → `{ replaced: [{operator: 'com.microsoft:GroupQueryAttention',
 * probabilities: '…Softmax…', …}, …] }` and no com.microsoft node left of that type.
 */
export function decomposeModel(model: ModelProto, options: DecomposeOptions = {}): { model: ModelProto; replaced: DecomposedNode[] } {
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const selected = new Set(options.operators ?? Object.keys(DECOMPOSERS));
  const targets = graph.node.filter((node) => selected.has(operatorKey(node)) && DECOMPOSERS[operatorKey(node)]);
  if (targets.length === 0) return { model, replaced: [] };
  const opset = defaultOpset(model);
  if (opset < 13) throw new Error(`decomposing fused operators needs default-domain opset ≥ 13; this model imports opset ${opset}`);

  const index = new GraphIndex(graph);
  const builder = new GraphBuilder(graph.name, 'decomposed/');
  builder.reserve(index.allNames());
  const nodes: NodeProto[] = [];
  const replaced: DecomposedNode[] = [];
  graph.node.forEach((node, position) => {
    const decomposer = selected.has(operatorKey(node)) ? DECOMPOSERS[operatorKey(node)] : undefined;
    if (!decomposer) {
      nodes.push(node);
      return;
    }
    const result = decomposer(node, { builder, index, opset });
    nodes.push(...builder.nodes.splice(0));
    replaced.push({ ...result, name: node.name, operator: operatorKey(node), position });
  });
  const newGraph = { ...graph, node: nodes, initializer: [...graph.initializer, ...builder.initializers] };
  return { model: { ...model, graph: newGraph }, replaced };
}
