// Target head: log-probabilities of chosen tokens at chosen positions, computed without ever forming the
// [batch, sequence, vocabulary] logits. The final hidden state that feeds the lm_head MatMul (after the final
// norm) is gathered at the R target positions first; the lm_head and LogSoftmax then run on R rows only.
//
//   target_logprobs[b, r] = log softmax(lm_head(h[b, position_r]))[id_r]            (token / sequence targets)
//                         − log softmax(lm_head(h[b, position_r]))[foil_r]          (contrastive targets only)
//
// Positions, ids and foils are graph inputs, so one graph serves any answer of the same length.
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, defaultOpset, pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { GradientError } from './rules';

export const TARGET_INPUTS = { positions: 'target_positions', ids: 'target_ids', foils: 'foil_ids' } as const;
export const TARGET_OUTPUT = 'target_logprobs';
/** The final hidden state gathered at the target positions, [batch, targets, hidden]: the head's only variable input. */
export const TARGET_HIDDEN = 'target_hidden';

/** Ops allowed between the lm_head MatMul and `logits` (bias, casts, soft-capping). */
const LOGIT_TAIL_OPS = operatorsWith('logitTail');

export interface LmHead {
  /** The final hidden state [batch, sequence, hidden] entering the lm_head. */
  hidden: string;
  /** The lm_head MatMul and the elementwise nodes after it, in order. */
  chain: NodeProto[];
}

/** Finds the lm_head: walks back from `logits` through elementwise tail ops to a MatMul with a constant weight. */
export function findLmHead(model: ModelProto, logits = 'logits'): LmHead {
  const tools = new GraphTools(model.graph!);
  const dependsOnInputs = (name: string, seen = new Set<string>()): boolean => {
    if (tools.graphInputs.has(name)) return true;
    if (seen.has(name)) return false;
    seen.add(name);
    const producer = tools.producer.get(name);
    return producer ? producer.input.some((i) => i && dependsOnInputs(i, seen)) : false;
  };
  const chain: NodeProto[] = [];
  let current = logits;
  for (let depth = 0; depth < 8; depth++) {
    const node = tools.producer.get(current);
    if (!node) break;
    chain.unshift(node);
    if (node.opType === 'MatMul' && !dependsOnInputs(node.input[1])) return { hidden: node.input[0], chain };
    if (!LOGIT_TAIL_OPS.has(node.opType)) break;
    const variable = node.input.filter((i) => i && dependsOnInputs(i));
    if (variable.length !== 1) break;
    current = variable[0];
  }
  throw new GradientError(`Cannot find the lm_head: '${logits}' is not a MatMul with a constant weight followed by elementwise ops`);
}

export interface TargetHeadOptions {
  /** Add the `foil_ids` input and subtract the foil's log-probability (contrastive targets). */
  contrastive: boolean;
  logits?: string;
  /** Float type the graph computes in (default float32; float64 in finite-difference tests). */
  floatType?: number;
}

/**
 * Replaces the model's outputs by `target_logprobs` [batch, R] with inputs `target_positions` [R],
 * `target_ids` [R] (and `foil_ids` [R]), all int64.
 */
export function addTargetHead(model: ModelProto, options: TargetHeadOptions): ModelProto {
  const graph = model.graph!;
  const { hidden, chain } = findLmHead(model, options.logits);
  const opset = defaultOpset(model);
  const tools = new GraphTools(graph);
  const b = new GraphBuilder('targets', 'target/');
  b.reserve([...tools.producer.keys(), ...tools.initializers.keys(), ...graph.input.map((i) => i.name), ...graph.node.map((n) => n.name)]);
  const positions = b.input(TARGET_INPUTS.positions, DataType.INT64, ['targets']);
  const ids = b.input(TARGET_INPUTS.ids, DataType.INT64, ['targets']);
  const gathered = b.op('Gather', [hidden, positions], { axis: 1 }, { outputNames: [TARGET_HIDDEN] });
  // Replay the lm_head chain on the gathered rows.
  const renamed = new Map<string, string>([[hidden, gathered]]);
  for (const node of chain) {
    const inputs = node.input.map((i) => renamed.get(i) ?? i);
    const outputs = b.ops(node.opType, inputs, {}, { outputs: node.output.length, domain: node.domain });
    const copy = b.nodes[b.nodes.length - 1];
    copy.attribute = node.attribute;
    node.output.forEach((o, i) => renamed.set(o, outputs[i]));
  }
  const rowLogits = renamed.get(chain[chain.length - 1].output[0])!;
  const logProbs = b.op('LogSoftmax', [rowLogits], { axis: -1 });
  const vocab = b.op('Gather', [b.op('Shape', [logProbs]), b.int64(-1, [])], { axis: 0 });
  const vocabulary = b.op('Range', [b.int64(0, []), vocab, b.int64(1, [])]);
  const floatType = options.floatType ?? DataType.FLOAT;
  const pick = (tokenIds: string): string => {
    const column = b.op('Reshape', [tokenIds, b.int64([-1, 1])]);
    const oneHot = b.op('Cast', [b.op('Equal', [column, vocabulary])], { to: floatType });
    const product = b.op('Mul', [logProbs, oneHot]);
    return opset >= 13 ? b.op('ReduceSum', [product, b.int64([-1])], { keepdims: 0 }) : b.op('ReduceSum', [product], { axes: [-1], keepdims: 0 });
  };
  let value = pick(ids);
  if (options.contrastive) {
    const foils = b.input(TARGET_INPUTS.foils, DataType.INT64, ['targets']);
    value = b.op('Sub', [value, pick(foils)]);
  }
  b.op('Identity', [value], {}, { outputNames: [TARGET_OUTPUT] });
  const extended = {
    ...graph,
    node: [...graph.node, ...b.nodes],
    initializer: [...graph.initializer, ...b.initializers],
    input: [...graph.input, ...b.inputs],
    output: [makeValueInfo(TARGET_OUTPUT)],
  };
  return withGraph(model, pruneGraph(extended, graph.input.map((i) => i.name).concat(b.inputs.map((i) => i.name))));
}
