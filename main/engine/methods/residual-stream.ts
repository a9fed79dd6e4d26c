// Finds a decoder's residual stream by structure, for the logit lens: the tensors that feed a normalization and
// also a residual Add (x_l entering block l's first norm, and the mid-block sum entering its second norm), plus
// the input of the final norm (x_L). Pre-norm blocks give 2L + 1 such tensors (every other one is a block
// boundary), parallel blocks (GPT-J, Phi) L + 1. The readout is the graph's own final norm and lm_head, copied
// into a graph of its own that reads any stack of hidden states.
import { makeNode, makeValueInfo, type GraphProto, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from '../gradients/graph-tools';
import { findLmHead } from '../gradients/targets';
import { matchProjectionOutputs } from '../attention/manual';

/** Normalization operators that take the normalized tensor as input 0. */
const NORM_OPS = new Set(['LayerNormalization', 'SimplifiedLayerNormalization', 'RMSNormalization']);
/** Name of the readout graph's input: hidden states [1, T, hidden]. */
export const READOUT_INPUT = 'lens_hidden';
export const READOUT_OUTPUT = 'lens_logits';

export class ResidualStreamError extends Error {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'ResidualStreamError';
  }
}

/** Whether `x` is normalized here: a norm operator's input, or a decomposed norm's input (LayerNorm: x − mean(x); RMSNorm: mean(x²)). */
function feedsNorm(tools: GraphTools, x: string): boolean {
  const consumers = tools.consumers.get(x) ?? [];
  const reducedMean = (name: string) => (tools.consumers.get(name) ?? []).some((n) => n.opType === 'ReduceMean' && n.input[0] === name);
  return consumers.some((node) => {
    if (NORM_OPS.has(node.opType) && node.input[0] === x) return true;
    // Decomposed LayerNorm: mean of x, then x − mean (a mean of x alone would also match RMSNorm's x²).
    if (node.opType === 'ReduceMean' && node.input[0] === x && consumers.some((n) => n.opType === 'Sub' && n.input[0] === x)) return true;
    const squares = (node.opType === 'Pow' && node.input[0] === x && tools.constantNumbers(node.input[1])?.[0] === 2) || (node.opType === 'Mul' && node.input[0] === x && node.input[1] === x);
    if (squares && reducedMean(node.output[0])) return true;
    // Mixed-precision exports upcast before the norm.
    return node.opType === 'Cast' && feedsNorm(tools, node.output[0]);
  });
}

function feedsAdd(tools: GraphTools, x: string): boolean {
  return (tools.consumers.get(x) ?? []).some((node) => node.opType === 'Add' || (node.opType === 'Cast' && feedsAdd(tools, node.output[0])));
}

/** Tensors in the order they are computed (graph inputs first). */
function tensorsInOrder(graph: GraphProto): string[] {
  return [...graph.input.map((i) => i.name), ...graph.node.flatMap((n) => n.output.filter(Boolean))];
}

export interface ResidualStream {
  /** Tensor names x_0 … x_L. */
  residuals: string[];
  source: 'graph' | 'manual';
}

/**
 * The L + 1 residual-stream tensors of a decoder (`layers` = L blocks), found by structure or, with `manual`, by a
 * name pattern (attention's manual syntax) matching L + 1 tensors, or L block outputs (x_0 is then the first norm's input).
 */
export function findResidualStream(model: ModelProto, layers: number, manual?: string): ResidualStream {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const normInputs = tensorsInOrder(graph).filter((name) => !tools.initializers.has(name) && feedsNorm(tools, name));
  if (normInputs.length === 0) throw new ResidualStreamError('logit lens: no normalization found in the graph; name the residual-stream tensors with --logit-lens-manual PATTERN');
  const final = normInputs[normInputs.length - 1];
  if (manual !== undefined) {
    const matched = matchProjectionOutputs(graph, manual);
    if (matched.length === layers) return { residuals: [normInputs[0], ...matched], source: 'manual' };
    if (matched.length === layers + 1) return { residuals: matched, source: 'manual' };
    throw new ResidualStreamError(`logit lens: --logit-lens-manual "${manual}" matched ${matched.length} tensors; it must match the ${layers} block outputs or the ${layers + 1} residual-stream tensors`);
  }
  // A Cast (float32 to float32 in torch exports) between the block's sum and its norm and residual Add: keep the sum.
  const castOf = (name: string) => {
    const producer = tools.producer.get(name);
    return producer && (producer.opType === 'Cast' || producer.opType === 'Identity') ? producer.input[0] : undefined;
  };
  const candidates = normInputs.filter((name) => name !== final && feedsAdd(tools, name));
  const residualAdds = candidates.filter((name) => !candidates.includes(castOf(name) ?? '') && castOf(final) !== name);
  const stream = [...residualAdds, final];
  if (stream.length === 2 * layers + 1) return { residuals: stream.filter((_, i) => i % 2 === 0), source: 'graph' };
  if (stream.length === layers + 1) return { residuals: stream, source: 'graph' };
  throw new ResidualStreamError(
    `logit lens: found ${stream.length} residual tensors feeding a norm, expected ${layers + 1} or ${2 * layers + 1} for ${layers} blocks; name them with --logit-lens-manual PATTERN (e.g. "/layers\\.\\d+\\/Add_1_output_0$/")`,
  );
}

/**
 * Nodes computing `target` from `start`, constants and graph inputs (some exports reshape by the shape of
 * input_ids): the final norm and lm_head chain, and the graph inputs it reads.
 */
function readoutNodes(tools: GraphTools, start: string, target: string): { nodes: NodeProto[]; inputs: Set<string> } {
  const chosen = new Set<NodeProto>();
  const visiting = new Set<string>();
  const inputs = new Set<string>();
  const need = (name: string): void => {
    if (name === start || !name || tools.initializers.has(name) || visiting.has(name)) return;
    visiting.add(name);
    if (tools.graphInputs.has(name)) {
      inputs.add(name);
      return;
    }
    const producer = tools.producer.get(name);
    if (!producer) throw new ResidualStreamError(`logit lens: the readout after '${start}' reads '${name}', which nothing produces`);
    if (chosen.has(producer)) return;
    chosen.add(producer);
    for (const input of producer.input) need(input);
    for (const attribute of producer.attribute) if (attribute.g) throw new ResidualStreamError(`logit lens: the readout after '${start}' holds a subgraph ('${producer.name}')`);
  };
  need(target);
  return { nodes: tools.graph.node.filter((n) => chosen.has(n)), inputs };
}

/**
 * A graph mapping hidden states [1, T, hidden] (the residual stream at any layer) to logits [1, T, vocab] through
 * the model's own final norm and lm_head; it also reads the graph inputs that chain reads (fed as for the run).
 */
export function readoutModel(model: ModelProto, finalResidual: string): ModelProto {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const head = findLmHead(model);
  const logits = head.chain[head.chain.length - 1].output[0];
  const found = readoutNodes(tools, finalResidual, logits);
  const nodes = found.nodes.map((node) => ({ ...node, input: node.input.map((i) => (i === finalResidual ? READOUT_INPUT : i)) }));
  const output = makeValueInfo(READOUT_OUTPUT);
  const rename = makeNode('Identity', [logits], [READOUT_OUTPUT], 'lens/logits');
  const readout: GraphProto = {
    ...graph,
    node: [...nodes, rename],
    input: [makeValueInfo(READOUT_INPUT, elementTypeOf(graph, finalResidual), ['batch', 'sequence', 'hidden']), ...graph.input.filter((i) => found.inputs.has(i.name))],
    output: [output],
    valueInfo: [],
  };
  return withGraph(model, pruneGraph(readout, [READOUT_INPUT]));
}

/** The graph's residual-stream tensors as outputs `lens_residual_<l>` (everything after them pruned). */
export function residualModel(model: ModelProto, residuals: readonly string[]): ModelProto {
  const graph = model.graph!;
  const copies = residuals.map((name, l) => makeNode('Identity', [name], [`lens_residual_${l}`], `lens/residual_${l}`));
  const extended: GraphProto = { ...graph, node: [...graph.node, ...copies], output: copies.map((c) => makeValueInfo(c.output[0])) };
  return withGraph(model, pruneGraph(extended, graph.input.map((i) => i.name)));
}

function elementTypeOf(graph: GraphProto, name: string): number {
  const declared = [...graph.input, ...graph.valueInfo].find((v) => v.name === name)?.type?.value;
  return declared?.case === 'tensorType' ? declared.value.elemType : 1;
}
