// Attention for one teacher-forced token sequence: one forward pass of the instrumented graph (or, in manual
// mode, of the graph with its query/key projections exposed), then the aggregations of shared/attention-math.
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { link, copyFile, mkdir, readFile, writeFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  attentionRollout,
  headStatistics,
  inputAttention,
  meanOverAll,
  rowPositionsFor,
  selectRows,
  type AttentionTensor,
  type HeadStatistics,
} from '../../../shared/attention-math';
import type { DeviceChoice } from '../../../shared/run';
import { normalizeConfig, type ModelConfig } from '../config';
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from '../onnx/proto';
import { linkedModelWeights, writeModelFiles } from '../gradients/model-files';
import { createSession, int64Tensor, MAPPED_WEIGHTS, type SessionHandle } from '../runtime';
import { forwardFeeds } from './feeds';
import { EXPLAIN_NAMES, instrumentModel, INSTRUMENT_VERSION, sha256, type InstrumentOptions } from './instrument';
import { ATTENTION_NORM_OUTPUT } from '../methods/attention-norm';
import { attentionFromProjections, captureProjections, type ManualPatterns, type ManualShape } from './manual';

export interface AttentionRequest {
  /** The ONNX file (its folder is where external weight files are looked up). */
  modelPath: string;
  /** The file's bytes when the caller has them already. */
  modelBytes?: Uint8Array;
  /** sha256 of the file when known (LoadedModel.onnxSha256); computed otherwise. */
  modelSha256?: string;
  /** Normalized config (main/engine/config.ts) or the raw config.json object. */
  config: ModelConfig | Record<string, unknown>;
  ids: number[];
  promptLength: number;
  rows: 'answer' | 'all';
  /** Folder for cached instrumented graphs. */
  cacheDir: string;
  device?: DeviceChoice;
  /** Query/key projection patterns: skips structural detection. */
  manual?: ManualPatterns;
  /** Compute rollout (default true). */
  rollout?: boolean;
  /**
   * Opens the session of a rewritten graph and keeps it (a warm pool, main/engine/warm-sessions.ts); without it the
   * session is opened here and released after the forward pass.
   */
  openSession?: (path: string, device: DeviceChoice) => Promise<SessionHandle>;
  /** Also compute attention norm (methods/attention-norm.ts) for the same rows. */
  attentionNorm?: boolean;
}

export interface AttentionResult {
  layers: number;
  heads: number;
  rows: 'answer' | 'all';
  /** Query position of each stored row. */
  rowPositions: number[];
  seqLen: number;
  promptLength: number;
  /** Probabilities [layer, head, row, col]. */
  data: Float32Array;
  /** Mean over layers and heads [row, col]. */
  mean: Float32Array;
  /** Attention rollout rows [row, col] (empty when disabled). */
  rollout: Float32Array;
  /** Input attention [col] (shared/attention-math inputAttention). */
  input: Float32Array;
  headStats: HeadStatistics;
  /** Attention norm [layer, head, row, col] and its mean over layers and heads [row, col], when requested. */
  norm?: { data: Float32Array; mean: Float32Array };
  method: 'graph' | 'manual';
  /** Softmax node names (graph) or projection tensors (manual), per layer. */
  sources: string[];
  provider: string;
  fallbackReason?: string;
  /** Milliseconds: preparing the graph (0 when cached), the forward pass, the aggregations. */
  timings: { prepare: number; forward: number; aggregate: number };
}

function configOf(config: AttentionRequest['config']): ModelConfig {
  return typeof (config as ModelConfig).numLayers === 'number' && 'raw' in config ? (config as ModelConfig) : normalizeConfig(config);
}

/** Whether the decoded model keeps weights in external files, and which (relative locations). */
export function externalLocations(model: ModelProto): string[] {
  const locations = new Set<string>();
  for (const tensor of model.graph?.initializer ?? []) {
    const location = tensor.externalData.find((entry) => entry.key === 'location')?.value;
    if (location) locations.add(location);
  }
  return [...locations];
}

/**
 * A rewritten model to cache: its encoded bytes (weights inline), or the graph with the original's initializers and
 * the file's sha256, written with the weights in the model's shared weights file (model-files.ts linkedModelWeights).
 */
type RewrittenModel = { external: string[] } & ({ bytes: Uint8Array } | { model: ModelProto; original: TensorProto[]; sha256: string });

/**
 * Writes a rewritten model into the cache: `<cacheDir>/<key>/model.onnx`, with the original's external weight
 * files hard-linked (copied across file systems) next to it, because onnxruntime refuses data paths outside
 * the model's folder. Returns the path to open.
 */
export async function cachedModelFile(
  cacheDir: string,
  key: string,
  modelPath: string,
  build: () => RewrittenModel | Promise<RewrittenModel>,
): Promise<{ path: string; cached: boolean }> {
  const folder = join(cacheDir, key);
  const path = join(folder, 'model.onnx');
  try {
    await stat(path);
    return { path, cached: true };
  } catch {
    // build below
  }
  const built = await build();
  const { external } = built;
  await mkdir(folder, { recursive: true });
  for (const location of external) {
    const target = join(folder, location);
    await mkdir(dirname(target), { recursive: true });
    try {
      await link(join(dirname(modelPath), location), target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      await copyFile(join(dirname(modelPath), location), target);
    }
  }
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  if ('bytes' in built) {
    await writeFile(temporary, built.bytes);
  } else {
    // The model's weights stay in its weights file, linked here: the session maps the pages other sessions map.
    const shared = await linkedModelWeights(built.original, built.sha256, cacheDir, folder);
    await writeModelFiles(built.model, temporary, 'model.onnx.data', shared);
    await rename(`${temporary}.data`, `${path}.data`);
  }
  await rename(temporary, path);
  return { path, cached: false };
}

/** Rotary settings for manual mode from the config. */
export function manualShape(config: ModelConfig, patterns: ManualPatterns): ManualShape {
  const raw = config.raw;
  const factor = typeof raw.partial_rotary_factor === 'number' ? raw.partial_rotary_factor : 1;
  const rotaryWanted = patterns.rotary ?? config.ropeTheta !== undefined;
  const rotaryDim = rotaryWanted ? 2 * Math.floor((config.headDim * factor) / 2) : 0;
  return { heads: config.numHeads, kvHeads: config.numKvHeads, headDim: config.headDim, rotaryDim, ropeTheta: config.ropeTheta ?? 10000 };
}

/**
 * Attention probabilities of every layer and head for `ids`, their aggregations and provenance.
 *
 * Example: `computeAttention({modelPath, config, ids: [1, 15043, 29892, 3186], promptLength: 2, rows: 'answer', cacheDir})`
 * → `{layers: 2, heads: 4, rowPositions: [1, 2], data: Float32Array(2·4·2·4), rollout: Float32Array(2·4), …}`.
 */
export async function computeAttention(request: AttentionRequest): Promise<AttentionResult> {
  const config = configOf(request.config);
  const T = request.ids.length;
  if (request.promptLength < 1 || request.promptLength > T) throw new Error(`promptLength ${request.promptLength} is outside 1 … ${T}`);
  const rowPositions = rowPositionsFor(request.rows, T, request.promptLength);
  const started = performance.now();
  // With the hash known (a loaded model) a cached graph needs no read of the model: 850 MB at 200M parameters.
  const bytes = request.modelBytes ?? (request.modelSha256 && !request.manual ? undefined : new Uint8Array(await readFile(request.modelPath)));
  const modelHash = request.modelSha256 ?? sha256(bytes!);
  const wantRollout = request.rollout ?? true;

  if (request.manual && request.attentionNorm) throw new Error('attention_norm needs the attention found by graph structure; it is not available with manual --attention-query/--attention-key');
  if (request.manual) return computeManual(request, config, bytes!, modelHash, rowPositions, started, wantRollout);

  // GroupQueryAttention's own probabilities are cheaper than its decomposition, but only the CPU kernel has them.
  // Only the fetched explain outputs are computed: no logits (instrument.ts explainOutputsOnly).
  const options: InstrumentOptions = { rollout: wantRollout, nativeProbabilities: (request.device ?? 'cpu') === 'cpu' && !request.attentionNorm, explainOutputsOnly: true };
  if (request.attentionNorm) options.attentionNorm = true; // only in the cache key when asked, so older cached graphs stay valid
  // 'mapped': graphs written since the weights live in the model's shared weights file (inline before).
  const key = sha256(new TextEncoder().encode(JSON.stringify([INSTRUMENT_VERSION, modelHash, options, 'mapped']))).slice(0, 32);
  let sites: string[] = [];
  const file = await cachedModelFile(request.cacheDir, key, request.modelPath, async () => {
    const decoded = wholeSequenceGraph(decodeModel(bytes ?? new Uint8Array(await readFile(request.modelPath))));
    const instrumented = instrumentModel(decoded, options);
    sites = instrumented.sites;
    return { model: instrumented.model, original: decoded.graph!.initializer, sha256: modelHash, external: externalLocations(decoded) };
  });
  const prepared = performance.now();
  const session = await openRewritten(request, file.path);
  try {
    const start = rowPositions[0] ?? T;
    const feeds = forwardFeeds(session, request.ids, {
      [EXPLAIN_NAMES.rowStart]: int64Tensor([start], [1]),
      [EXPLAIN_NAMES.rowEnd]: int64Tensor([start + rowPositions.length], [1]),
    });
    const forwardStart = performance.now();
    const fetches: string[] = wantRollout ? [EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout] : [EXPLAIN_NAMES.attention];
    if (request.attentionNorm) fetches.push(ATTENTION_NORM_OUTPUT);
    const outputs = await session.run(feeds, fetches);
    const forwardEnd = performance.now();
    const attention = outputs[EXPLAIN_NAMES.attention];
    const [layers, heads] = attention.dims.map(Number);
    const data = attention.data as Float32Array;
    const rollout = wantRollout ? (outputs[EXPLAIN_NAMES.rollout].data as Float32Array) : new Float32Array(0);
    if (sites.length === 0) sites = Array.from({ length: layers }, (_, layer) => `layer ${layer} (cached graph)`);
    const result = aggregate({ layers, heads, data, rollout, rowPositions, request, sources: sites, method: 'graph', session });
    if (request.attentionNorm) {
      const norm = outputs[ATTENTION_NORM_OUTPUT].data as Float32Array;
      result.norm = { data: norm, mean: meanOverAll({ shape: { layers, heads, rows: rowPositions.length, cols: T }, data: norm, rowPositions }) };
    }
    result.timings = { prepare: file.cached ? 0 : prepared - started, forward: forwardEnd - forwardStart, aggregate: result.timings.aggregate };
    return result;
  } finally {
    if (!request.openSession) await session.release();
  }
}

/** The rewritten graph's session: from the caller's warm pool, or opened for this call. */
function openRewritten(request: AttentionRequest, path: string): Promise<SessionHandle> {
  const device = request.device ?? 'cpu';
  return request.openSession ? request.openSession(path, device) : createSession(path, device, MAPPED_WEIGHTS);
}

function aggregate(parts: {
  layers: number;
  heads: number;
  data: Float32Array;
  rollout: Float32Array;
  rowPositions: number[];
  request: AttentionRequest;
  sources: string[];
  method: 'graph' | 'manual';
  session: SessionHandle;
}): AttentionResult {
  const begin = performance.now();
  const T = parts.request.ids.length;
  const tensor: AttentionTensor = { shape: { layers: parts.layers, heads: parts.heads, rows: parts.rowPositions.length, cols: T }, data: parts.data, rowPositions: parts.rowPositions };
  const result: AttentionResult = {
    layers: parts.layers,
    heads: parts.heads,
    rows: parts.request.rows,
    rowPositions: parts.rowPositions,
    seqLen: T,
    promptLength: parts.request.promptLength,
    data: parts.data,
    mean: meanOverAll(tensor),
    rollout: parts.rollout,
    input: inputAttention(tensor, parts.request.promptLength),
    headStats: headStatistics(tensor),
    method: parts.method,
    sources: parts.sources,
    provider: parts.session.provider,
    fallbackReason: parts.session.fallbackReason,
    timings: { prepare: 0, forward: 0, aggregate: 0 },
  };
  result.timings.aggregate = performance.now() - begin;
  return result;
}

async function computeManual(
  request: AttentionRequest,
  config: ModelConfig,
  bytes: Uint8Array,
  modelHash: string,
  rowPositions: number[],
  started: number,
  wantRollout: boolean,
): Promise<AttentionResult> {
  const patterns = request.manual!;
  const key = sha256(new TextEncoder().encode(JSON.stringify(['manual-1', modelHash, patterns.query, patterns.key]))).slice(0, 32);
  let names: { queries: string[]; keys: string[] } | undefined;
  const decodedOnce = () => {
    const decoded = wholeSequenceGraph(decodeModel(bytes));
    return { decoded, captured: captureProjections(decoded, patterns) };
  };
  const file = await cachedModelFile(request.cacheDir, key, request.modelPath, () => {
    const { decoded, captured } = decodedOnce();
    names = captured;
    return { bytes: encodeModel(captured.model), external: externalLocations(decoded) };
  });
  // The names are cheap to recompute on a cache hit (matching only, no encoding).
  names ??= decodedOnce().captured;
  const prepared = performance.now();
  const session = await openRewritten(request, file.path);
  try {
    const T = request.ids.length;
    const forwardStart = performance.now();
    const outputs = await session.run(forwardFeeds(session, request.ids), [...names.queries, ...names.keys]);
    const forwardEnd = performance.now();
    const shape = manualShape(config, patterns);
    const layers = names.queries.length;
    const R = rowPositions.length;
    const data = new Float32Array(layers * shape.heads * R * T);
    const headMean = new Float32Array(layers * T * T);
    names.queries.forEach((query, layer) => {
      const all = attentionFromProjections(outputs[query].data as Float32Array, outputs[names!.keys[layer]].data as Float32Array, T, shape);
      for (let h = 0; h < shape.heads; h++) {
        const headMatrix = all.subarray(h * T * T, (h + 1) * T * T);
        data.set(selectRows(headMatrix, T, rowPositions), ((layer * shape.heads + h) * R) * T);
        for (let i = 0; i < T * T; i++) headMean[layer * T * T + i] += headMatrix[i] / shape.heads;
      }
    });
    const rollout = wantRollout ? attentionRollout({ count: layers, rows: T, cols: T, data: headMean }, rowPositions) : new Float32Array(0);
    const result = aggregate({ layers, heads: shape.heads, data, rollout, rowPositions, request, sources: names.queries, method: 'manual', session });
    result.timings = { prepare: file.cached ? 0 : prepared - started, forward: forwardEnd - forwardStart, aggregate: result.timings.aggregate };
    return result;
  } finally {
    if (!request.openSession) await session.release();
  }
}

