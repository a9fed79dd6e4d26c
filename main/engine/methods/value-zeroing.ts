// Value zeroing (Mohebbi, Zuidema, Chrupała & Alishahi 2023, "Quantifying Context Mixing in Transformers",
// EACL): how much layer l's output at query i changes when key j's value vector is zeroed in that layer only,
//   data[l][t][j] = 1 − cos(h_l(q_t), h_l^{¬j}(q_t))
// where h_l is the block's output (the residual stream after attention and MLP), h_l^{¬j} the same with
// v_j := 0 in every head of layer l (after KV-head repetition; every other layer and key untouched) and q_t the
// answer rows' query positions. Raw cosine distances, not row-normalised (the paper normalises rows for display).
// Exactly 0 for j > q_t (causal attention never reads those values).
//
// The expensive option: one sequence per (layer, key), L · (q_last + 1) sequences, run as batches of copies of
// the sequence in one rewritten graph. Its input `explain_value_keep` [L, B, T] multiplies each layer's value
// vectors (1 keeps, 0 zeroes); its output `explain_layer_rows` [L, B, R, hidden] is every layer's output at
// the stored rows. Each batch also holds one unperturbed copy as the reference, so both sides of each distance
// come from the same kernels.
import { readFile } from 'node:fs/promises';
import { rowPositionsFor } from '../../../shared/attention-math';
import { MAX_VALUE_ZEROING_BATCH } from '../../../shared/memory-estimate-forward';
import type { DeviceChoice } from '../../../shared/run';
import { cachedModelFile, externalLocations } from '../attention/compute';
import { findAttentionSites } from '../attention/detect';
import { forwardFeeds } from '../attention/feeds';
import { sha256 } from '../attention/instrument';
import { decomposeModel, defaultOpset } from '../onnx/decompose';
import { Emit, floatTypeOf } from '../onnx/decompose/common';
import { GraphBuilder } from '../onnx/graph-builder';
import { GraphIndex } from '../onnx/graph-index';
import { DataType, decodeModel, encodeModel, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { createSession, float32Tensor, int64Tensor, type SessionHandle } from '../runtime';
import { findLayerOutput, findValuePath } from './value-path';

export const VALUE_ZEROING_NAMES = {
  keep: 'explain_value_keep',
  rowStart: 'explain_row_start',
  rowEnd: 'explain_row_end',
  layerRows: 'explain_layer_rows',
} as const;

const REWRITE_VERSION = 'value-zeroing-2';

/** Perturbed sequences per forward pass (plus one reference copy) when the run's budget does not size it. */
export const DEFAULT_VALUE_ZEROING_BATCH = MAX_VALUE_ZEROING_BATCH;

export class ValueZeroingNotSupportedError extends Error {
  readonly code = 'value_zeroing_unsupported';
  constructor(layer: number, reason: string) {
    super(`value_zeroing: layer ${layer}: ${reason}; value zeroing is not supported for this model (the other methods still work)`);
    this.name = 'ValueZeroingNotSupportedError';
  }
}

/** What a value-zeroing run costs, known before it starts. */
export interface ValueZeroingCost {
  /** Perturbed sequences: layers × keys up to the last answer row. */
  sequences: number;
  /** Forward passes (batches), each of up to batchSize perturbed copies plus one reference. */
  forwards: number;
  batchSize: number;
}

/** Example: `valueZeroingCost(2, 12, 16)` → `{sequences: 22, forwards: 2, batchSize: 16}` (keys 0…10, rows 4…10). */
export function valueZeroingCost(layers: number, seqLen: number, batchSize = DEFAULT_VALUE_ZEROING_BATCH): ValueZeroingCost {
  const keys = seqLen - 1; // the last answer row is at T − 2, so key T − 1 is never read by a stored row
  const sequences = layers * Math.max(0, keys);
  return { sequences, forwards: Math.ceil(sequences / batchSize), batchSize };
}

/** One line for the CLI and the progress stream. */
export function describeValueZeroingCost(cost: ValueZeroingCost, layers: number, forwardMs?: number): string {
  const time = forwardMs === undefined ? '' : `, about ${Math.max(1, Math.round((cost.forwards * (cost.batchSize + 1) * forwardMs) / 1000))} s`;
  return `${layers} layers × ${cost.sequences / layers} keys = ${cost.sequences} perturbed sequences in ${cost.forwards} forwards of ${cost.batchSize + 1}${time}`;
}

export interface ValueZeroingRequest {
  modelPath: string;
  modelSha256?: string;
  ids: number[];
  promptLength: number;
  cacheDir: string;
  /** Attention layers (config.json); checked against the rewritten graph's output. */
  layers: number;
  device?: DeviceChoice;
  batchSize?: number;
  /** An open session of valueZeroingGraphFile's graph (kept by the caller); opened and released here when absent. */
  session?: SessionHandle;
  signal?: AbortSignal;
  onProgress?: (fraction: number, message?: string) => void;
}

export interface ValueZeroingResult {
  layers: number;
  rowPositions: number[];
  seqLen: number;
  /** Cosine distances [layer, row, col]. */
  data: Float32Array;
  cost: ValueZeroingCost & { ms: number };
}

/** Rewrites a decoder graph for value zeroing (see the file comment); throws one line where it cannot. */
export function valueZeroingModel(original: ModelProto): { model: ModelProto; layers: number } {
  const { model } = decomposeModel(wholeSequenceGraph(original));
  const graph = model.graph!;
  const opset = defaultOpset(model);
  const index = new GraphIndex(graph);
  const sites = findAttentionSites(graph, opset, index);
  if (sites.length === 0) throw new ValueZeroingNotSupportedError(0, 'no attention found by graph structure');
  const builder = new GraphBuilder(graph.name, 'explain/');
  builder.reserve(index.allNames());
  const emit = new Emit(builder, opset);
  const keep = builder.input(VALUE_ZEROING_NAMES.keep, DataType.FLOAT, ['layers', 'batch', 'sequence']);
  const start = builder.input(VALUE_ZEROING_NAMES.rowStart, DataType.INT64, [1]);
  const end = builder.input(VALUE_ZEROING_NAMES.rowEnd, DataType.INT64, [1]);
  // New nodes go right before the P · V MatMul they feed, so the node list stays topologically sorted.
  const before = new Map<NodeProto, NodeProto[]>();
  const replaced = new Map<NodeProto, NodeProto>();
  const rows = sites.map((site, layer) => {
    const path = findValuePath(index, site.probabilities);
    if (typeof path === 'string') throw new ValueZeroingNotSupportedError(layer, path);
    const output = findLayerOutput(index, path.projection);
    if (typeof output === 'string') throw new ValueZeroingNotSupportedError(layer, output);
    const first = builder.nodes.length;
    const mask = builder.op('Gather', [keep, builder.int64([layer], [])], { axis: 0 }); // [B, T]
    const typed = builder.op('Cast', [mask], { to: floatTypeOf(index, path.value) });
    const broadcast = builder.op('Reshape', [typed, builder.op('Concat', [emit.dim(typed, 0), builder.int64([1]), emit.dim(typed, 1), builder.int64([1])], { axis: 0 })]);
    // [B·…, T, D] → [B, −1, T, D] so the [B, 1, T, 1] mask meets every head of its own copy, then back.
    const grouped = builder.op('Reshape', [path.value, builder.op('Concat', [emit.dim(typed, 0), builder.int64([-1]), emit.dims(path.value, -2)], { axis: 0 })]);
    const zeroed = builder.op('Reshape', [builder.op('Mul', [grouped, broadcast]), builder.op('Shape', [path.value])]);
    before.set(path.context, builder.nodes.slice(first));
    replaced.set(path.context, { ...path.context, input: [path.context.input[0], zeroed] });
    return { output: output.output };
  });
  const tail = builder.nodes.length;
  const sliced = rows.map(({ output }) => emit.unsqueeze(builder.op('Cast', [emit.slice(output, start, end, [-2])], { to: DataType.FLOAT }), [0]));
  builder.ops('Concat', sliced, { axis: 0 }, { outputNames: [VALUE_ZEROING_NAMES.layerRows] });
  const node = graph.node.flatMap((n) => [...(before.get(n) ?? []), replaced.get(n) ?? n]);
  return {
    model: {
      ...model,
      graph: {
        ...graph,
        node: [...node, ...builder.nodes.slice(tail)],
        initializer: [...graph.initializer, ...builder.initializers],
        input: [...graph.input, ...builder.inputs],
        // Only the layer rows: with logits and caches no longer outputs, onnxruntime can drop the lm_head.
        output: [makeValueInfo(VALUE_ZEROING_NAMES.layerRows)],
      },
    },
    layers: sites.length,
  };
}

/**
 * Value-zeroing distances for the answer rows of one sequence.
 * Example: on the 2-layer 'llama' fixture with 12 tokens and promptLength 5 → `data` of 2 · 7 · 12 floats,
 * `cost` {sequences: 22, forwards: 2, batchSize: 16, ms: …}.
 */
export async function computeValueZeroing(request: ValueZeroingRequest): Promise<ValueZeroingResult> {
  const started = performance.now();
  // A session handed in (warm, from the run's pool) stays open; one opened here is released at the end.
  const session = request.session ?? (await createSession(await valueZeroingGraphFile(request), request.device ?? 'cpu'));
  try {
    const T = request.ids.length;
    const rowPositions = rowPositionsFor('answer', T, request.promptLength);
    const R = rowPositions.length;
    const batchSize = request.batchSize ?? DEFAULT_VALUE_ZEROING_BATCH;
    const bounds = { [VALUE_ZEROING_NAMES.rowStart]: int64Tensor([rowPositions[0] ?? T], [1]), [VALUE_ZEROING_NAMES.rowEnd]: int64Tensor([(rowPositions[0] ?? T) + R], [1]) };
    const runBatch = async (items: Array<{ layer: number; key: number }>, layers: number) => {
      const B = items.length + 1; // copy 0 is the reference
      const keep = new Float32Array(layers * B * T).fill(1);
      items.forEach(({ layer, key }, b) => (keep[(layer * B + b + 1) * T + key] = 0));
      const feeds = forwardFeeds(session, request.ids, { ...bounds, [VALUE_ZEROING_NAMES.keep]: float32Tensor(keep, [layers, B, T]) }, B);
      const outputs = await session.run(feeds, [VALUE_ZEROING_NAMES.layerRows]);
      const rows = outputs[VALUE_ZEROING_NAMES.layerRows];
      return { data: rows.data as Float32Array, B, hidden: Number(rows.dims[3]) };
    };
    // One unperturbed forward gives the time of one sequence for the estimate, and checks the layer count.
    const probeStart = performance.now();
    const probe = await runBatch([], request.layers);
    const layers = { count: request.layers, ms: performance.now() - probeStart };
    if (probe.data.length !== request.layers * R * probe.hidden) throw new Error(`value_zeroing: the graph has a different number of attention layers than config.json's ${request.layers}`);
    const cost = valueZeroingCost(layers.count, T, batchSize);
    request.onProgress?.(0, describeValueZeroingCost(cost, layers.count, layers.ms));
    const items: Array<{ layer: number; key: number }> = [];
    for (let layer = 0; layer < layers.count; layer++) for (let k = 0; k < T - 1; k++) items.push({ layer, key: k });
    const data = new Float32Array(layers.count * R * T);
    for (let offset = 0; offset < items.length; offset += batchSize) {
      if (request.signal?.aborted) throw new Error('the run was cancelled');
      const chunk = items.slice(offset, offset + batchSize);
      const { data: rows, B, hidden } = await runBatch(chunk, layers.count);
      chunk.forEach(({ layer, key }, b) => {
        for (let r = 0; r < R; r++) {
          const reference = ((layer * B + 0) * R + r) * hidden;
          const perturbed = ((layer * B + b + 1) * R + r) * hidden;
          data[(layer * R + r) * T + key] = cosineDistance(rows, reference, perturbed, hidden);
        }
      });
      request.onProgress?.(Math.min(1, (offset + chunk.length) / items.length), describeValueZeroingCost(cost, layers.count, layers.ms));
    }
    return { layers: layers.count, rowPositions, seqLen: T, data, cost: { ...cost, ms: Math.round(performance.now() - started) } };
  } finally {
    if (!request.session) await session.release();
  }
}

/** The rewritten graph's file in the cache folder, written on first use (keyed by the model file's hash). */
export async function valueZeroingGraphFile(request: Pick<ValueZeroingRequest, 'modelPath' | 'modelSha256' | 'cacheDir'>): Promise<string> {
  // The file is read only to hash it (no hash given) or to build the graph (not cached yet).
  let bytes: Uint8Array | undefined;
  const read = async () => (bytes ??= new Uint8Array(await readFile(request.modelPath)));
  const hash = request.modelSha256 ?? sha256(await read());
  const key = sha256(new TextEncoder().encode(JSON.stringify([REWRITE_VERSION, hash]))).slice(0, 32);
  const file = await cachedModelFile(request.cacheDir, key, request.modelPath, async () => {
    const decoded = decodeModel(await read());
    return { bytes: encodeModel(valueZeroingModel(decoded).model), external: externalLocations(decoded) };
  });
  return file.path;
}

/** 1 − cos between two rows of `data`, in float64. */
function cosineDistance(data: Float32Array, a: number, b: number, size: number): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < size; i++) {
    dot += data[a + i] * data[b + i];
    normA += data[a + i] * data[a + i];
    normB += data[b + i] * data[b + i];
  }
  return normA === 0 || normB === 0 ? 0 : 1 - dot / Math.sqrt(normA * normB);
}
