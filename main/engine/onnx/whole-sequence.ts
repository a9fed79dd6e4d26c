// Explanations run one pass over the whole sequence, so their rewritten graphs start from an export normalised to
// that pass:
// - Merged decoder exports (optimum's `decoder_model_merged.onnx`, the transformers.js 2 layout of Xenova/* models)
//   hold two graphs under one If node: `then_branch` continues from a key/value cache, `else_branch` reads the whole
//   sequence. Generation feeds the `use_cache_branch` input; the explain graphs inline the else branch, where
//   attention sites and gradient rules can see the nodes.
// - Exports with a `num_logits_to_keep` input (transformers.js feeds 1 while generating) slice the final hidden
//   states to the last k positions before the lm_head; the explain graphs get the constant 0 (every position), so
//   the target head can read any position.
import { attributeValue, DataType, makeNode, makeTensor, type GraphProto, type ModelProto, type NodeProto } from './proto';

export const USE_CACHE_BRANCH = 'use_cache_branch';
export const NUM_LOGITS_TO_KEEP = 'num_logits_to_keep';

/** Whether a graph takes optimum's `use_cache_branch` switch. */
function hasCacheBranch(model: ModelProto): boolean {
  return model.graph?.input.some((input) => input.name === USE_CACHE_BRANCH) ?? false;
}

/**
 * The model with every If on `use_cache_branch` replaced by its else branch (no cache), and the switch itself a
 * constant false for any other reader. Models without the switch come back unchanged.
 */
export function withoutCacheBranch(model: ModelProto): ModelProto {
  const graph = model.graph;
  if (!graph || !hasCacheBranch(model)) return model;
  const nodes: NodeProto[] = [];
  const initializers = [...graph.initializer];
  const valueInfo = [...graph.valueInfo];
  for (const node of graph.node) {
    if (node.opType !== 'If' || node.input[0] !== USE_CACHE_BRANCH) {
      nodes.push(node);
      continue;
    }
    const branch = attributeValue(node, 'else_branch') as GraphProto | undefined;
    if (!branch) throw new Error(`If node '${node.name}' on ${USE_CACHE_BRANCH} has no else_branch`);
    nodes.push(...branch.node);
    initializers.push(...branch.initializer);
    valueInfo.push(...branch.valueInfo);
    // The branch's outputs become the If node's outputs.
    branch.output.forEach((output, index) => {
      const target = node.output[index];
      if (target && target !== output.name) nodes.push(makeNode('Identity', [output.name], [target], `${node.name || 'If'}/else_output_${index}`));
    });
  }
  const stillRead = nodes.some((node) => node.input.includes(USE_CACHE_BRANCH));
  if (stillRead) initializers.push(makeTensor(USE_CACHE_BRANCH, new Uint8Array([0]), [1], DataType.BOOL));
  return {
    ...model,
    graph: { ...graph, node: nodes, initializer: initializers, valueInfo, input: graph.input.filter((input) => input.name !== USE_CACHE_BRANCH) },
  };
}

/** The model with `num_logits_to_keep` a constant 0 (logits at every position); unchanged without that input. */
function withAllLogits(model: ModelProto): ModelProto {
  const graph = model.graph;
  if (!graph?.input.some((input) => input.name === NUM_LOGITS_TO_KEEP)) return model;
  return {
    ...model,
    graph: {
      ...graph,
      input: graph.input.filter((input) => input.name !== NUM_LOGITS_TO_KEEP),
      initializer: [...graph.initializer, makeTensor(NUM_LOGITS_TO_KEEP, new BigInt64Array([0n]), [])],
    },
  };
}

/** Both normalisations: the graph of one whole-sequence pass. */
export function wholeSequenceGraph(model: ModelProto): ModelProto {
  return withAllLogits(withoutCacheBranch(model));
}
