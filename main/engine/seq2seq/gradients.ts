// Gradients through both graphs of an encoder-decoder model, by composition: one explain graph holds the encoder
// (its names prefixed `encoder::`) feeding the merged decoder's whole-sequence branch, both split at their token
// embeddings so that the source embeddings (`source_embeds`: the lookup times the embedding scale, before positions
// and any embedding LayerNorm) and the decoder input embeddings (`decoder_embeds`) are graph inputs. A target head
// gives log p(answer_t | source, answer_<t) for every decoder row; the reverse-mode differentiator (gradients/
// differentiate.ts) appends the derivative of the seeded targets with respect to both embedding inputs, so one run
// returns d target_r / d source and d target_r / d decoder for every seeded row r.
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType, encodeModel, makeValueInfo, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto';
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { differentiate } from '../gradients/differentiate';
import { convertFloatType, floatValues, prepareForGradients } from '../gradients/prepare';
import { probeShapes } from '../gradients/shape-probe';
import { withGraph } from '../gradients/graph-tools';
import { saliency, type SaliencyNorm } from '../gradients/methods/saliency';
import { gradientTimesInput } from '../gradients/methods/grad-x-input';
import { matrixToRows } from '../explainers/json-arrays';
import { createSession, int64Tensor, Tensor, type Feeds, type SessionHandle } from '../runtime';

export const SEQ2SEQ_GRADIENT_NAMES = {
  sourceIds: 'source_ids',
  sourceMask: 'encoder_attention_mask',
  sourceEmbeds: 'source_embeds',
  decoderIds: 'input_ids',
  decoderEmbeds: 'decoder_embeds',
  targetIds: 'target_ids',
  /** Contrastive programs only: the foil token of each decoder row. */
  foilIds: 'foil_ids',
  target: 'target_logprobs',
  seed: 'target_seed',
} as const;

const ENCODER_PREFIX = 'encoder::';

/** The embedding lookup of one graph: table values, the scale applied after it, and the tensor the split replaces. */
export interface EmbeddingLookup {
  table: Float32Array | Float64Array;
  width: number;
  scale: number;
}

function renameEncoder(encoder: ModelProto): ModelProto {
  const graph = encoder.graph!;
  const keep = new Map<string, string>([
    ['input_ids', SEQ2SEQ_GRADIENT_NAMES.sourceIds],
    ['attention_mask', SEQ2SEQ_GRADIENT_NAMES.sourceMask],
    ['last_hidden_state', 'encoder_hidden_states'],
  ]);
  const name = (n: string) => (n === '' ? n : (keep.get(n) ?? `${ENCODER_PREFIX}${n}`));
  const node: NodeProto[] = graph.node.map((n) => ({ ...n, name: `${ENCODER_PREFIX}${n.name}`, input: n.input.map(name), output: n.output.map(name) }));
  const initializer: TensorProto[] = graph.initializer.map((t) => ({ ...t, name: name(t.name) }));
  const valueInfo: ValueInfoProto[] = graph.valueInfo.map((v) => ({ ...v, name: name(v.name) }));
  return withGraph(encoder, { node, initializer, valueInfo, input: graph.input.map((v) => ({ ...v, name: name(v.name) })), output: graph.output.map((v) => ({ ...v, name: name(v.name) })) });
}

/**
 * Replaces `Gather(table, ids)` (and a following Mul by a scalar constant, the embedding scale) with a graph input
 * `embedsName` [batch, sequence, width]. Returns the lookup so callers can compute the embeddings in JavaScript.
 */
function splitLookup(graph: NonNullable<ModelProto['graph']>, ids: string, embedsName: string): EmbeddingLookup {
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const gather = graph.node.find((n) => n.opType === 'Gather' && n.input[1] === ids && initializers.has(n.input[0]));
  if (!gather) throw new Error(`no embedding lookup Gather(table, ${ids}) found`);
  const tableTensor = initializers.get(gather.input[0])!;
  let replaced = gather.output[0];
  let scale = 1;
  const removed = new Set<NodeProto>([gather]);
  const readers = graph.node.filter((n) => n.input.includes(replaced));
  const scaleNode = readers.length === 1 && readers[0].opType === 'Mul' ? readers[0] : undefined;
  const scalar = scaleNode && initializers.get(scaleNode.input.find((i) => i !== replaced) ?? '');
  if (scaleNode && scalar && scalar.dims.length === 0) {
    scale = Number(floatValues(scalar)[0]);
    replaced = scaleNode.output[0];
    removed.add(scaleNode);
  }
  graph.node = graph.node.filter((n) => !removed.has(n)).map((n) => (n.input.includes(replaced) ? { ...n, input: n.input.map((i) => (i === replaced ? embedsName : i)) } : n));
  const width = Number(tableTensor.dims[1]);
  graph.input.push(makeValueInfo(embedsName, DataType.FLOAT, ['batch_size', `${embedsName}_length`, width]));
  return { table: floatValues(tableTensor), width, scale };
}

export interface ComposedExplainGraph {
  model: ModelProto;
  source: EmbeddingLookup;
  decoder: EmbeddingLookup;
}

/**
 * The composed forward graph with both embedding inputs and `target_logprobs` [1, T] = log p(target_ids[t]) at
 * decoder row t (LogSoftmax of the logits picked by a one-hot product, so the head is differentiable); with
 * `contrastive`, minus log p(foil_ids[t]) at the same row.
 */
export function composeExplainGraph(encoder: ModelProto, merged: ModelProto, floatType: number = DataType.FLOAT, contrastive = false): ComposedExplainGraph {
  const enc = renameEncoder(encoder).graph!;
  const dec = wholeSequenceGraph(merged).graph!;
  const graph = {
    ...dec,
    node: [...enc.node, ...dec.node],
    initializer: [...enc.initializer, ...dec.initializer],
    valueInfo: [...enc.valueInfo, ...dec.valueInfo],
    // The decoder's encoder_hidden_states is now computed; its past inputs are unused by the whole-sequence branch.
    input: [...enc.input, ...dec.input.filter((i) => i.name !== 'encoder_hidden_states' && i.name !== SEQ2SEQ_GRADIENT_NAMES.sourceMask && !i.name.startsWith('past_key_values'))],
    output: [],
  };
  const source = splitLookup(graph, SEQ2SEQ_GRADIENT_NAMES.sourceIds, SEQ2SEQ_GRADIENT_NAMES.sourceEmbeds);
  const decoder = splitLookup(graph, SEQ2SEQ_GRADIENT_NAMES.decoderIds, SEQ2SEQ_GRADIENT_NAMES.decoderEmbeds);
  const b = new GraphBuilder('targets', 'target/');
  b.reserve([...graph.node.flatMap((n) => [...n.output, n.name]), ...graph.initializer.map((t) => t.name), ...graph.input.map((i) => i.name)]);
  const targetIds = b.input(SEQ2SEQ_GRADIENT_NAMES.targetIds, DataType.INT64, [1, 'rows']);
  const logProbs = b.op('LogSoftmax', ['logits'], { axis: -1 });
  const vocabulary = b.op('Range', [b.int64(0, []), b.op('Gather', [b.op('Shape', [logProbs]), b.int64(-1, [])], { axis: 0 }), b.int64(1, [])]);
  const pick = (ids: string) => {
    const oneHot = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [ids, b.int64([-1])]), vocabulary])], { to: DataType.FLOAT });
    return b.op('ReduceSum', [b.op('Mul', [logProbs, oneHot]), b.int64([-1])], { keepdims: 0 });
  };
  let value = pick(targetIds);
  if (contrastive) value = b.op('Sub', [value, pick(b.input(SEQ2SEQ_GRADIENT_NAMES.foilIds, DataType.INT64, [1, 'rows']))]);
  b.op('Identity', [value], {}, { outputNames: [SEQ2SEQ_GRADIENT_NAMES.target] });
  b.output(SEQ2SEQ_GRADIENT_NAMES.target);
  const composed: ModelProto = withGraph(merged, {
    ...graph,
    node: [...graph.node, ...b.nodes],
    initializer: [...graph.initializer, ...b.initializers],
    input: [...graph.input, ...b.inputs],
    output: b.outputs,
  });
  // Graph inputs may have lost readers (the ids once the lookups moved out): the differentiator prunes what it needs.
  // q4/q8 weights become float weights (MatMulNBits decomposed, dynamic quantization dequantized) as for decoder-only
  // gradients; fp32 graphs pass through unchanged apart from the float type.
  const quantized = composed.graph!.node.some((n) => n.domain === 'com.microsoft' || n.opType === 'MatMulInteger' || n.opType === 'DynamicQuantizeLinear');
  return { model: quantized ? prepareForGradients(composed, floatType) : floatType === DataType.FLOAT ? composed : convertFloatType(composed, floatType), source, decoder };
}

/** Embeddings [1, ids, width] of a lookup as a tensor of `floatType`. */
export function lookupEmbeddings(lookup: EmbeddingLookup, ids: readonly number[], floatType: number = DataType.FLOAT): Tensor {
  const data = floatType === DataType.DOUBLE ? new Float64Array(ids.length * lookup.width) : new Float32Array(ids.length * lookup.width);
  ids.forEach((id, row) => {
    for (let j = 0; j < lookup.width; j++) data[row * lookup.width + j] = lookup.table[id * lookup.width + j] * lookup.scale;
  });
  return new Tensor(floatType === DataType.DOUBLE ? 'float64' : 'float32', data, [1, ids.length, lookup.width]);
}

export interface Seq2SeqGradientProgram {
  session: SessionHandle;
  composed: ComposedExplainGraph;
  floatType: number;
  /** Built with `foil_ids`: targets are log p(target) − log p(foil) and every run needs foil ids. */
  contrastive: boolean;
  gradientOutputs: Record<string, string>;
  /** Seed rows the graph was built for. */
  rows: number;
  release(): Promise<void>;
}

/** Feeds of one run of the forward graph (the seed is added for the derivative graph). */
export function forwardFeeds(composed: ComposedExplainGraph, sourceIds: readonly number[], decoderIds: readonly number[], answerIds: readonly number[], floatType: number, sourceEmbeds?: Tensor, foilIds?: readonly number[]): Feeds {
  const feeds: Feeds = {
    [SEQ2SEQ_GRADIENT_NAMES.sourceEmbeds]: sourceEmbeds ?? lookupEmbeddings(composed.source, sourceIds, floatType),
    [SEQ2SEQ_GRADIENT_NAMES.sourceMask]: int64Tensor(sourceIds.map(() => 1), [1, sourceIds.length]),
    [SEQ2SEQ_GRADIENT_NAMES.decoderEmbeds]: lookupEmbeddings(composed.decoder, decoderIds, floatType),
    [SEQ2SEQ_GRADIENT_NAMES.targetIds]: int64Tensor(answerIds, [1, answerIds.length]),
  };
  const inputs = new Set(composed.model.graph!.input.map((i) => i.name));
  if (inputs.has(SEQ2SEQ_GRADIENT_NAMES.foilIds)) {
    if (foilIds?.length !== answerIds.length) throw new Error('a contrastive program needs one foil id per decoder position');
    feeds[SEQ2SEQ_GRADIENT_NAMES.foilIds] = int64Tensor(foilIds, [1, foilIds.length]);
  }
  // The ids stay graph inputs where shape computations read them (sequence lengths, T5 relative positions).
  if (inputs.has(SEQ2SEQ_GRADIENT_NAMES.sourceIds)) feeds[SEQ2SEQ_GRADIENT_NAMES.sourceIds] = int64Tensor(sourceIds, [1, sourceIds.length]);
  if (inputs.has(SEQ2SEQ_GRADIENT_NAMES.decoderIds)) feeds[SEQ2SEQ_GRADIENT_NAMES.decoderIds] = int64Tensor(decoderIds, [1, decoderIds.length]);
  return feeds;
}

/**
 * Builds the derivative graph for one (source length, decoder length, row count) and opens it; `foilIds` (one per
 * decoder position) makes it contrastive.
 * Example: `await openSeq2SeqGradients(enc, dec, src, [0, 5, 9], [5, 9, 9], 2)` then `.run(...)` → gradients [R, 1, S, d].
 */
export async function openSeq2SeqGradients(encoder: ModelProto, merged: ModelProto, sourceIds: readonly number[], decoderIds: readonly number[], targetIds: readonly number[], rows: number, floatType: number = DataType.FLOAT, foilIds?: readonly number[]): Promise<Seq2SeqGradientProgram> {
  if (targetIds.length !== decoderIds.length) throw new Error('one target id per decoder position');
  const composed = composeExplainGraph(encoder, merged, floatType, foilIds !== undefined);
  const feeds = forwardFeeds(composed, sourceIds, decoderIds, targetIds, floatType, undefined, foilIds);
  const shapes = await probeShapes(composed.model, feeds);
  const withSeed = withGraph(composed.model, {
    input: [...composed.model.graph!.input, makeValueInfo(SEQ2SEQ_GRADIENT_NAMES.seed, floatType, [rows, 1, decoderIds.length])],
  });
  const { model, gradientOutputs } = differentiate(withSeed, {
    wrt: [SEQ2SEQ_GRADIENT_NAMES.sourceEmbeds, SEQ2SEQ_GRADIENT_NAMES.decoderEmbeds],
    seeds: [{ tensor: SEQ2SEQ_GRADIENT_NAMES.target, cotangent: SEQ2SEQ_GRADIENT_NAMES.seed }],
    shapes,
  });
  const session = await createSession(encodeModel(model), 'cpu', { logLevel: 'error' });
  return { session, composed, floatType, contrastive: foilIds !== undefined, gradientOutputs, rows, release: () => session.release() };
}

export interface Seq2SeqGradients {
  /** log p(answer_t) per decoder row t. */
  logProbs: number[];
  /** d target_r / d source_embeds: [row][s][hidden] flattened per row → saliency and grad × input reduce it. */
  source: Float32Array | Float64Array;
  decoder: Float32Array | Float64Array;
  sourceShape: [number, number, number];
  decoderShape: [number, number, number];
}

export interface GradientRunOptions {
  /** Seed [rows × decoder length] (default one-hot: row r differentiates target r). */
  seed?: Float32Array | Float64Array;
  /** Embeddings to use instead of the lookups (finite differences, integrated-gradient path points). */
  sourceEmbeds?: Tensor;
  decoderEmbeds?: Tensor;
  /** Contrastive programs: the foil of each decoder row (same length as the decoder ids). */
  foilIds?: readonly number[];
}

/**
 * The seed of a target kind: `token` and `contrastive` differentiate each of the first `answerCount` rows on its own
 * (row r one-hot at r), `sequence` their sum F = Σ_t target_t in one row.
 * Example: `targetSeed('sequence', 3, 4)` → [1, 1, 1, 0] (one row over 4 decoder positions).
 */
export function targetSeed(target: 'token' | 'sequence' | 'contrastive', answerCount: number, decoderLength: number): Float64Array {
  if (target === 'sequence') return Float64Array.from({ length: decoderLength }, (_, t) => (t < answerCount ? 1 : 0));
  const seed = new Float64Array(answerCount * decoderLength);
  for (let r = 0; r < answerCount; r++) seed[r * decoderLength + r] = 1;
  return seed;
}

/**
 * Runs the derivative graph. `targetIds[t]` is the token whose log-probability decoder row t targets (same length as
 * `decoderIds`); the seed's rows choose which weighted sums of targets are differentiated.
 */
export async function runSeq2SeqGradients(program: Seq2SeqGradientProgram, sourceIds: readonly number[], decoderIds: readonly number[], targetIds: readonly number[], options: GradientRunOptions = {}): Promise<Seq2SeqGradients> {
  const T = decoderIds.length;
  const rows = program.rows;
  const double = program.floatType === DataType.DOUBLE;
  let seed = options.seed;
  if (!seed) {
    seed = double ? new Float64Array(rows * T) : new Float32Array(rows * T);
    for (let r = 0; r < rows; r++) seed[r * T + r] = 1;
  }
  const feeds = {
    ...forwardFeeds(program.composed, sourceIds, decoderIds, targetIds, program.floatType, options.sourceEmbeds, options.foilIds),
    ...(options.decoderEmbeds ? { [SEQ2SEQ_GRADIENT_NAMES.decoderEmbeds]: options.decoderEmbeds } : {}),
    [SEQ2SEQ_GRADIENT_NAMES.seed]: new Tensor(double ? 'float64' : 'float32', double ? Float64Array.from(seed) : Float32Array.from(seed), [rows, 1, T]),
  };
  const sourceOut = program.gradientOutputs[SEQ2SEQ_GRADIENT_NAMES.sourceEmbeds];
  const decoderOut = program.gradientOutputs[SEQ2SEQ_GRADIENT_NAMES.decoderEmbeds];
  const out = await program.session.run(feeds, [SEQ2SEQ_GRADIENT_NAMES.target, sourceOut, decoderOut]);
  return {
    logProbs: Array.from(out[SEQ2SEQ_GRADIENT_NAMES.target].data as Float32Array, Number),
    source: out[sourceOut].data as Float32Array | Float64Array,
    decoder: out[decoderOut].data as Float32Array | Float64Array,
    sourceShape: [rows, sourceIds.length, program.composed.source.width],
    decoderShape: [rows, T, program.composed.decoder.width],
  };
}

/**
 * Saliency (the chosen norm over the hidden axis, L2 by default) and gradient × input (dot with the embedding) per
 * [row][position], by the decoder-only reducers (gradients/methods).
 */
export function reduceGradient(gradient: Float32Array | Float64Array, shape: [number, number, number], embeds: Float32Array | Float64Array, norm: SaliencyNorm = 'l2'): { saliency: number[][]; gradXInput: number[][] } {
  const [rows, positions, width] = shape;
  const g = Float32Array.from(gradient);
  return {
    saliency: matrixToRows(saliency(g, rows, positions, width, norm), rows, positions),
    gradXInput: matrixToRows(gradientTimesInput(g, Float32Array.from(embeds), rows, positions, width), rows, positions),
  };
}

export interface SourceIntegratedGradients {
  steps: number;
  /** "pad" (every source position holds the pad token's embedding) or "zero". */
  baseline: 'pad' | 'zero';
  /** Attribution of each source token: Σ_j (x − x')_j · mean path gradient, for the summed answer log-probability. */
  attributions: number[];
  /** F(x) − F(baseline) for F = Σ_t log p(answer_t): what the attributions should add up to. */
  delta: number;
  completenessError: number;
}

/**
 * Integrated gradients over the source embeddings (Sundararajan et al. 2017): the baseline replaces the source only
 * (the pad token's embedding at every source position, or zeros without a pad id), decoder embeddings are held at
 * their real values, the target is the summed answer log-probability (rows 0 … answerCount − 1), midpoint rule with
 * `steps` points. A zero baseline puts T5's first RMSNorm at its singular point (RMSNorm(αx) jumps near α = 0), which
 * is why pad is the default. `program` must be built with rows = 1.
 */
export async function sourceIntegratedGradients(program: Seq2SeqGradientProgram, sourceIds: readonly number[], decoderIds: readonly number[], targetIds: readonly number[], answerCount: number, options: { steps?: number; padTokenId?: number } = {}): Promise<SourceIntegratedGradients> {
  if (program.rows !== 1) throw new Error('integrated gradients need a one-row program');
  const steps = options.steps ?? 32;
  const T = decoderIds.length;
  const double = program.floatType === DataType.DOUBLE;
  const seed = targetSeed('sequence', answerCount, T);
  const input = lookupEmbeddings(program.composed.source, sourceIds, program.floatType);
  const x = input.data as Float32Array | Float64Array;
  const baseline = options.padTokenId !== undefined ? (lookupEmbeddings(program.composed.source, sourceIds.map(() => options.padTokenId!), program.floatType).data as Float32Array | Float64Array) : new Float64Array(x.length);
  const width = program.composed.source.width;
  const total = new Float64Array(x.length);
  const sumTargets = (logProbs: number[]) => logProbs.slice(0, answerCount).reduce((a, b) => a + b, 0);
  const point = (alpha: number) => {
    const values = Array.from(x, (v, i) => baseline[i] + alpha * (v - baseline[i]));
    return new Tensor(double ? 'float64' : 'float32', double ? Float64Array.from(values) : Float32Array.from(values), input.dims);
  };
  for (let k = 0; k < steps; k++) {
    const result = await runSeq2SeqGradients(program, sourceIds, decoderIds, targetIds, { seed, sourceEmbeds: point((k + 0.5) / steps) });
    for (let i = 0; i < x.length; i++) total[i] += result.source[i] / steps;
  }
  const attributions = Array.from({ length: sourceIds.length }, (_, s) => {
    let sum = 0;
    for (let j = 0; j < width; j++) sum += (x[s * width + j] - baseline[s * width + j]) * total[s * width + j];
    return sum;
  });
  const atInput = sumTargets((await runSeq2SeqGradients(program, sourceIds, decoderIds, targetIds, { seed, sourceEmbeds: point(1) })).logProbs);
  const atBaseline = sumTargets((await runSeq2SeqGradients(program, sourceIds, decoderIds, targetIds, { seed, sourceEmbeds: point(0) })).logProbs);
  const delta = atInput - atBaseline;
  return { steps, baseline: options.padTokenId !== undefined ? 'pad' : 'zero', attributions, delta, completenessError: Math.abs(attributions.reduce((a, b) => a + b, 0) - delta) };
}
