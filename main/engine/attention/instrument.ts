// Rewrites a decoder graph so that one forward pass also returns its attention:
//   explain_attention  [layer, head, row, key]  the probability rows explain_row_start … explain_row_end − 1 of every
//                                               layer (sliced inside the graph: only stored rows leave onnxruntime)
//   explain_rollout    [row, key]               attention rollout of the same rows (optional)
// Fused attention operators are first decomposed into standard ones (main/engine/onnx/decompose) so that their
// probabilities are an ordinary Softmax.
//
// Rollout needs the full per-layer head-mean matrices, which never leave the graph: each layer's probabilities are
// averaged over heads in the graph ([T, T]), mixed with the identity, and the requested rows are carried down from
// the top layer, v ← v · A'_l, so the only extra output is [rows, T] (see shared/attention-math attentionRollout
// for the definition). Cost: L matrix products of [R, T] × [T, T], small next to the forward pass.
import { createHash } from 'node:crypto';
import { GraphBuilder } from '../onnx/graph-builder';
import { GraphIndex } from '../onnx/graph-index';
import { makeValueInfo, DataType, type GraphProto, type ModelProto } from '../onnx/proto';
import { decomposeModel, defaultOpset, FUSED_ATTENTION_OPS } from '../onnx/decompose';
import { Emit } from '../onnx/decompose/common';
import { AttentionNotFoundError, describeGraphForError, findAttentionSites } from './detect';
import { exposeNativeProbabilities, GQA_KEY } from './native-probabilities';
import { addAttentionNorm } from '../methods/attention-norm';
import { pruneGraph } from '../gradients/graph-tools';
import { gateLayers, mergedNodes, type SiteGate } from './layer-order';

/** Graph input/output names the instrumented graph adds. */
export const EXPLAIN_NAMES = {
  rowStart: 'explain_row_start',
  rowEnd: 'explain_row_end',
  attention: 'explain_attention',
  rollout: 'explain_rollout',
} as const;

/** Bump when the rewrite changes, so cached graphs are rebuilt. */
export const INSTRUMENT_VERSION = 'attention-instrument-4';

export interface InstrumentOptions {
  /** Add the explain_rollout output (default true). */
  rollout?: boolean;
  /** Share of the identity in rollout's A' = (1 − r)·A + r·I (default 0.5, Abnar & Zuidema). */
  residual?: number;
  /** Also expose Q and K entering each score MatMul as outputs `explain_query_<l>`, `explain_key_<l>` (tests). */
  captureQueryKey?: boolean;
  /**
   * Take GroupQueryAttention's probabilities from its own qk_output = 2 output instead of decomposing it (cheaper;
   * onnxruntime's CPU kernel only, see native-probabilities.ts). Ignored with captureQueryKey.
   */
  nativeProbabilities?: boolean;
  /** Also add `explain_attention_norm` (methods/attention-norm.ts); implies decomposing every fused operator. */
  attentionNorm?: boolean;
  /**
   * Keep only the explain outputs: drop the model's own (logits, present.*) and every node only they need. onnxruntime
   * runs every node of a graph whatever is fetched, so otherwise an attention run pays for the lm_head over all T
   * positions ([T, V] float32: 1 GB at 8,192 tokens and a 32,000 vocabulary). The graph's inputs stay as they are.
   */
  explainOutputsOnly?: boolean;
}

export interface InstrumentedModel {
  model: ModelProto;
  /** Softmax node names (or GroupQueryAttention node names, native probabilities) in layer order. */
  sites: string[];
  /** Fused operators that were decomposed, by key. */
  decomposed: string[];
  /** With captureQueryKey: per layer, output names of Q and K (and whether K is already transposed). */
  queryKey?: { query: string; key: string; keyTransposed: boolean }[];
}

/** Finds the attention of `model` (decomposing fused attention first) and adds the explain outputs. */
export function instrumentModel(original: ModelProto, options: InstrumentOptions = {}): InstrumentedModel {
  const native = options.nativeProbabilities && !options.captureQueryKey && !options.attentionNorm ? exposeNativeProbabilities(original) : undefined;
  const operators = native ? FUSED_ATTENTION_OPS.filter((key) => key !== GQA_KEY) : FUSED_ATTENTION_OPS;
  const { model, replaced } = decomposeModel(native?.model ?? original, { operators });
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const opset = defaultOpset(model);
  const index = new GraphIndex(graph);
  // Sites in layer (topological) order, whichever way their probabilities are obtained.
  const order = new Map(index.topologicalOrder().map((node, position) => [node, position]));
  const nativeSites = (native?.sites ?? []).map((site) => ({ ...site, order: order.get(index.producer(site.probabilities)!.node) ?? 0 }));
  const detected = findAttentionSites(graph, opset, index);
  const sites = [...detected.map((site) => ({ ...site, name: site.softmax.name || site.probabilities })), ...nativeSites].sort(
    (a, b) => a.order - b.order,
  );
  if (sites.length === 0) throw new AttentionNotFoundError(describeGraphForError(graph));

  const builder = new GraphBuilder(graph.name, 'explain/');
  builder.reserve(index.allNames());
  const emit = new Emit(builder, opset);
  const start = builder.input(EXPLAIN_NAMES.rowStart, DataType.INT64, [1]);
  const end = builder.input(EXPLAIN_NAMES.rowEnd, DataType.INT64, [1]);

  // [.., S, T] → [1, heads, S, T] whatever the export's rank ([B, H, S, T], [B·H, S, T], [B, KH, G, S, T]).
  const toFourAxes = (x: string): string => builder.op('Reshape', [x, builder.op('Concat', [builder.int64([1, -1]), emit.dims(x, -2)], { axis: 0 })]);
  // Float16 exports may keep probabilities in float16: the stored rows and the rollout work in float32 (the casts
  // touch only the stored rows and one head mean per layer).
  const asFloat = (x: string): string => builder.op('Cast', [x], { to: DataType.FLOAT });
  const rows = sites.map((site) => toFourAxes(asFloat(emit.slice(site.probabilities, start, end, [-2]))));
  builder.ops('Concat', rows, { axis: 0 }, { outputNames: [EXPLAIN_NAMES.attention] });
  builder.output(EXPLAIN_NAMES.attention);

  const norms = options.attentionNorm ? addAttentionNorm(builder, emit, index, sites, rows) : [];
  const mixed = options.rollout ?? true ? addRollout(builder, emit, sites, start, end, options.residual ?? 0.5, asFloat) : [];
  // Each layer's explain tensors before the next layer's attention (layer-order.ts): one layer's probabilities alive, not all.
  const explained = rows.map((row, layer) => [row, ...(norms[layer] ? [norms[layer]] : []), ...(mixed[layer] ? [mixed[layer]] : [])]);
  // A detected site starts at its score MatMul's query; a fused GroupQueryAttention node at its first input.
  const gates: SiteGate[] = sites.map((site) => {
    const detectedSite = detected.find((candidate) => candidate.probabilities === site.probabilities);
    if (detectedSite) return { node: detectedSite.scores, input: detectedSite.scores.input.indexOf(detectedSite.query) };
    return { node: index.producer(site.probabilities)!.node, input: 0 };
  });
  const gated = gateLayers(builder, emit, gates, explained);

  let queryKey: InstrumentedModel['queryKey'];
  if (options.captureQueryKey) {
    queryKey = detected.map((site, layer) => {
      const query = builder.op('Identity', [site.query], {}, { outputNames: [`explain_query_${layer}`] });
      const key = builder.op('Identity', [site.key], {}, { outputNames: [`explain_key_${layer}`] });
      builder.output(query);
      builder.output(key);
      return { query, key, keyTransposed: site.keyTransposed };
    });
  }

  const explainOutputs = builder.outputs.map((o) => makeValueInfo(o.name));
  const newGraph = {
    ...graph,
    node: mergedNodes(graph.node, builder.nodes, gated),
    initializer: [...graph.initializer, ...builder.initializers],
    input: [...graph.input, ...builder.inputs],
    output: options.explainOutputsOnly ? explainOutputs : [...graph.output, ...explainOutputs],
  };
  return {
    model: { ...model, graph: options.explainOutputsOnly ? explainOnly(newGraph) : newGraph },
    sites: sites.map((s) => s.name),
    decomposed: replaced.map((r) => r.operator),
    queryKey,
  };
}

/** The graph without the nodes and weights no explain output needs (inputs kept, so the feeds do not change). */
function explainOnly(graph: GraphProto): GraphProto {
  // Old exports list initializers among the inputs too: those go with their initializer.
  const weights = new Set(graph.initializer.map((tensor) => tensor.name));
  const pruned = pruneGraph(graph, graph.input.filter((input) => !weights.has(input.name)).map((input) => input.name));
  const produced = new Set(pruned.node.flatMap((node) => node.output));
  return { ...pruned, valueInfo: graph.valueInfo.filter((info) => produced.has(info.name)) };
}

/** Adds explain_rollout; returns each layer's mixed matrix A'_l. */
function addRollout(builder: GraphBuilder, emit: Emit, sites: { probabilities: string }[], start: string, end: string, residual: number, asFloat: (x: string) => string): string[] {
  // Per layer: head mean [T, T] → A' = (1 − r)·A + r·I, rows renormalised.
  const mixed = sites.map((site) => {
    const stacked = builder.op('Reshape', [site.probabilities, builder.op('Concat', [builder.int64([-1]), emit.dims(site.probabilities, -2)], { axis: 0 })]);
    const mean = asFloat(emit.reduce('ReduceMean', stacked, [0], 0));
    const blend = builder.op('Add', [
      builder.op('Mul', [mean, builder.float(1 - residual, [])]),
      builder.op('Mul', [builder.op('EyeLike', [mean]), builder.float(residual, [])]),
    ]);
    return builder.op('Div', [blend, emit.reduce('ReduceSum', blend, [-1], 1)]);
  });
  let carried = emit.slice(mixed[mixed.length - 1], start, end, [0]);
  for (let layer = mixed.length - 2; layer >= 0; layer--) carried = builder.op('MatMul', [carried, mixed[layer]]);
  builder.ops('Identity', [carried], {}, { outputNames: [EXPLAIN_NAMES.rollout] });
  builder.output(EXPLAIN_NAMES.rollout);
  return mixed;
}

/** sha256 (hex) of bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
