// A gradient program: one model prepared for explanations (fused ops decomposed, one float type, embeddings as
// an input, the target head instead of full logits) and, per run shape, its derivative graph in an open
// session. Derivative graphs are specialised to shapes (see differentiate.ts), cached in memory per
// (model sha256, float type, target kind, batch, sequence, targets, weights) and on disk under cacheDir. Sequence
// lengths and target counts are rounded up to a few buckets and runs padded to them (length-buckets.ts), so a new
// prompt length usually finds its graph built already.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSession, Tensor, type Feeds, type Results, type SessionHandle } from '../runtime';
import { DataType, makeValueInfo, type ModelProto, type TensorProto, type ValueInfoProto } from '../onnx/proto';
import { modelWeightsName, readModel, sharedWeightsFile, writeModelFiles, type SharedWeights } from './model-files';
import type { DeviceChoice } from '../../../shared/run';
import { differentiate } from './differentiate';
import { withGraph } from './graph-tools';
import { prepareForGradients } from './prepare';
import { probeForDerivative, type DerivativeProbe } from './derivative-probe';
import { runOnce, type ProbePlace } from './shape-probe';
import { foldStatic, MAX_FOLDED_ELEMENTS, staticCandidates, staticValuesModel } from './static-fold';
import { EXTRAPOLATE_ABOVE, extrapolateShapes, probeLengths } from './probe-extrapolation';
import { blockCausalAttention } from './causal-blocks';
import { embed, splitEmbeddings, type SplitEmbeddings } from './split-embeddings';
import { addTargetHead, TARGET_INPUTS, TARGET_OUTPUT } from './targets';
import { GradientError } from './rules';
import { seedThroughHead } from './head-seed';
import { gradientCacheBudget, pruneCache, touchCacheEntry } from './cache-budget';
import { hashFile, readTable, readTableRows, readWholeTable, writeTable, type Embedding } from './embedding-table';
import { narrowToTargets } from './target-rows';
import { elementTypeOf, splitPasses } from './passes';
import type { ProgramRun, ProgramResult } from './program-run';
import { keepLeading, padCotangent, padRun, pads, runLayout, type RunLayout } from './length-buckets';
import { rematerialiseAttention } from './rematerialise';
import { checkpointLayers } from './layer-checkpoints';
import { attentionRowBlocks, LAYER_CHECKPOINTS_ABOVE } from '../../../shared/memory-estimate';

/**
 * Session settings per graph role, measured on the 56 M bench model (T = 512). The forward pass of answer rows runs
 * once per explanation: its pre-packed weight copies (+160 MB) buy nothing, and an arena would keep its activations
 * reserved. Reverse passes run once per chunk of rows: pre-packing costs ~30 MB and saves ~3%; their arena would save
 * another ~5% but keeps 100–200 MB reserved, which the 1 GB target for 32 rows does not allow (peak 973 MB without,
 * 1072 MB with, 3 rows per pass). Combined graphs (integrated gradients, weight gradients) run once per batch of
 * path points with a looser memory target: both on.
 */
const SESSION_OPTIONS = {
  forward: { memoryArena: false, prepacking: false, memoryPattern: false },
  // Not pre-packed either (since format 15): the reverse pass reads the weights in place (rules/matmul.ts FusedMatMul)
  // from the shared, memory-mapped weights file; a pre-packed copy would hold them once more (984 MB at 246 M).
  // No memory pattern: from its second run of a shape onnxruntime would place every activation in one planned block,
  // measured larger than the run's own peak and growing with layers (reduced 40 M model, 4,096 tokens, 3 layers: the
  // reverse pass's second run rose 1,404 MB above the forward's results with it, 960 MB without; README "What fits").
  reverseLong: { memoryArena: false, prepacking: false, memoryPattern: false },
  // With the memory pattern (sequences of 2 row blocks): without it, and without the arena, every activation of a pass
  // is mapped and page-faulted afresh — the 246 M bench model at 995 tokens, 32 rows in 4 passes, quiet machine: 264 s
  // with it, 727 s without; peak RSS 4.56 GB against 4.3 GB.
  reverse: { memoryArena: false, prepacking: false },
  // Short sequences: the arena's kept buffers cost little, and without it every [rows, heads, T, T] buffer is mapped
  // and page-faulted afresh (REVERSE_ARENA_BYTES).
  reverseArena: { memoryArena: true, prepacking: false },
  combined: { memoryArena: true, prepacking: true },
} as const;
type SessionRole = keyof typeof SESSION_OPTIONS;

/**
 * Reverse sessions keep onnxruntime's arena when one forward's activations (batch 1) are at most this many bytes.
 * Measured on the 40 M bench model, 32 saliency rows at 512 tokens (781 MB of activations), machine shared (load
 * 10–16): 38 s with the arena for 2, 8 or 32 rows per pass, against 55 s (2 rows), 44 s (8) and 236 s (32) without
 * it. At 2,048 tokens (4 rows per pass) the arena took 4.07 GB against 2.98 GB for 16% less time: long sequences
 * keep it off, where memory is what limits a run.
 */
export const REVERSE_ARENA_BYTES = 1e9;

function reverseRole(activation: ActivationSize, attentionRowBlocks: number): SessionRole {
  if (activation.total <= REVERSE_ARENA_BYTES) return 'reverseArena';
  // More than 2 row blocks: one layer's probabilities are past 256 MB (attentionRowBlocks), memory comes first.
  return attentionRowBlocks > 2 ? 'reverseLong' : 'reverse';
}

/** Bumped whenever derivative graphs are built differently, so that cached ones are rebuilt. */
const DERIVATIVE_FORMAT = 17;
/**
 * Row blocks of causal attention (causal-blocks.ts): [T, T] work × (n + 1) / 2n. Alternating runs at T = 512: reverse
 * passes 26–34% faster on the demo model, no measurable change on the 56 M bench model; 4 blocks no faster than 2.
 * Long sequences get more (attentionRowBlocks): memory, not speed, sets them there.
 */
function attentionBlocks(shapes: Map<string, number[]>, causal: ReadonlySet<string>, floatType: number): number {
  const bytes = Math.max(0, ...[...causal].map((p) => (shapes.get(p) ?? []).reduce((n, d) => n * d, 1)));
  return attentionRowBlocks(bytes * (floatType === DataType.DOUBLE ? 8 : 4));
}

export const COTANGENT_INPUT = 'target_cotangent';


/** Target values of a rewritten graph against the unmodified graph's (to float32 rounding of long sums). */
function closeTo(values: Float32Array | Float64Array, expected: Float32Array | Float64Array): boolean {
  return values.length === expected.length && values.every((v, i) => Math.abs(v - expected[i]) <= 1e-3 * Math.max(1, Math.abs(expected[i])));
}

/**
 * The first `length` positions of a run, its targets moved to the last positions there: what a short shape probe
 * runs (shapes depend on how many targets there are, not on where).
 */
function shortRun(run: ProgramRun, length: number, hidden: number): ProgramRun {
  const full = run.ids.length;
  const Type = run.embeddings.constructor as Float32ArrayConstructor | Float64ArrayConstructor;
  const embeddings = new Type(run.batch * length * hidden);
  for (let b = 0; b < run.batch; b++) embeddings.set(run.embeddings.subarray(b * full * hidden, (b * full + length) * hidden), b * length * hidden);
  const targets = run.targetIds.length;
  return { ...run, embeddings, ids: run.ids.slice(0, length), positions: Array.from({ length: targets }, (_, i) => length - targets + i) };
}

export interface ProgramSource {
  /** Path of an .onnx file (external data next to it is read) or the model's bytes. */
  model: string | Uint8Array;
  /** Float type to differentiate in (float32 default; float64 for finite-difference tests). */
  floatType?: number;
  device?: DeviceChoice;
  cacheDir?: string;
  /**
   * Keep only the embedding table between derivative builds (path sources): the prepared graph, which holds every
   * weight, is read again when a new run shape needs a derivative graph that is not in the cache.
   */
  compact?: boolean;
  /** Pad runs to length buckets when the model is causal (default true; false builds a graph per exact shape). */
  lengthBuckets?: boolean;
  /**
   * Recompute attention probabilities in the reverse pass of answer rows (default true; rematerialise.ts). False keeps
   * every layer's probabilities from the forward, the earlier program (tests compare the two).
   */
  checkpointAttention?: boolean;
  /**
   * Recompute each block's forward tensors in the reverse pass of answer rows from the residual stream
   * (layer-checkpoints.ts): true, false, or 'auto' (default: when the tensors the forward would otherwise save exceed
   * LAYER_CHECKPOINTS_ABOVE, shared/memory-estimate.ts).
   */
  checkpointLayers?: boolean | 'auto';
  /**
   * How a long run's shapes are found (default 'extrapolate': from three short probes, probe-extrapolation.ts;
   * 'real': one probe at the run's length, which holds every activation at once — tests compare the two).
   */
  shapeProbe?: 'extrapolate' | 'real';
  /** Runs longer than this are probed by extrapolation (default EXTRAPOLATE_ABOVE; tests lower it). */
  extrapolateAbove?: number;
}

export type { ProgramRun, ProgramResult } from './program-run';

/** Memory of one run's forward tensors: all of them together, and the largest one (float32 bytes). */
export interface ActivationSize {
  total: number;
  largest: number;
}

function activationBytesOf(model: ModelProto, shapes: Map<string, number[]>): ActivationSize {
  const constants = new Set(model.graph!.initializer.map((t) => t.name));
  const size: ActivationSize = { total: 0, largest: 0 };
  for (const [name, shape] of shapes) {
    if (constants.has(name)) continue;
    const bytes = 4 * shape.reduce((n, d) => n * d, 1);
    size.total += bytes;
    size.largest = Math.max(size.largest, bytes);
  }
  return size;
}



/** What feeding one graph input needs: its name and, for an empty past, its dimensions. */
export interface InputSpec {
  name: string;
  dims?: readonly (number | string)[];
}

function inputSpec(input: ValueInfoProto): InputSpec {
  const dims = input.type?.value.case === 'tensorType' ? input.type.value.value.shape?.dim ?? [] : [];
  return { name: input.name, dims: dims.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : String(d.value.value ?? ''))) };
}

function sessionInputs(session: SessionHandle): InputSpec[] {
  return session.inputs.map((input) => ({ name: input.name, dims: input.shape }));
}

interface DerivativeSession {
  /** One graph computing forward and reverse together (integrated gradients, weight gradients). */
  session?: SessionHandle;
  /** The same split in two (answer rows): one forward, then a reverse pass per chunk of seed rows. */
  passes?: { forward: SessionHandle; reverse: SessionHandle; saved: string[] };
  outputs: Record<string, string>;
  /** Bytes of all forward tensors of one run at this shape (a memory estimate for choosing batch sizes). */
  activationBytes?: ActivationSize;
  /** Whether the model may be padded on the right (every attention site causal, from the probe). */
  paddable: boolean;
  /** Row blocks of causal attention in the graph (0: none blocked; undefined: a cache entry from before they were recorded). */
  attentionRowBlocks?: number;
  /** Whether the reverse pass recomputes each block's forward tensors (layer-checkpoints.ts). */
  layerCheckpoints?: boolean;
}

/** A padded run met a model whose attention is not causal: it is run again at its exact length. */
class ExactLengthNeeded extends Error {}

/** What a program has done so far (tests and benchmarks read it). */
export interface ProgramStatistics {
  /** Derivative graphs built (not found in memory or on disk). */
  built: number;
  /** Derivative sessions opened (forward, reverse or combined). */
  sessionsOpened: number;
  /** Sequence length of every shape probe run (extrapolated runs list their short lengths). */
  probes: number[];
}

/** A chunk of seed rows for `GradientProgram.runRows`. */
export interface SeedChunk {
  /** [rows, batch, targets]. */
  cotangent: Float32Array | Float64Array;
  rows: number;
}

export class GradientProgram {
  private readonly sessions = new Map<string, DerivativeSession>();
  private readonly heads = new Map<boolean, ModelProto>();
  private readonly activation = new Map<string, ActivationSize>();
  private readonly probed = new Map<string, DerivativeProbe>();
  private readonly embedding: Embedding;
  private model: ModelProto | undefined;
  /**
   * The model's weights as read, before preparation (name and bytes): what the model's own weights file holds
   * (model-files.ts modelWeightsName). Dropped with the prepared graph.
   */
  private original: Pick<TensorProto, 'name' | 'rawData'>[] | undefined;
  /** The prepared weights, written once per cache folder (model-files.ts sharedWeightsFile). */
  private readonly weights = new Map<string, Promise<SharedWeights>>();
  /** Whether runs of this model may be padded to length buckets; undefined until a derivative graph says. */
  private paddable: boolean | undefined;
  readonly statistics: ProgramStatistics = { built: 0, sessionsOpened: 0, probes: [] };

  private constructor(
    readonly sha256: string,
    split: SplitEmbeddings | Embedding,
    readonly floatType: number,
    private readonly source: ProgramSource,
    original?: Pick<TensorProto, 'name' | 'rawData'>[],
  ) {
    const { model, ...embedding } = { model: undefined, ...split };
    this.model = model;
    this.original = original;
    this.embedding = embedding;
  }

  /**
   * Prepares a model (decompose, convert, split embeddings). A compact program with a cache folder whose table is
   * cached reads only the embedding table; the model itself is read when a derivative graph has to be built.
   */
  static async open(source: ProgramSource): Promise<GradientProgram> {
    const floatType = source.floatType ?? DataType.FLOAT;
    const tableFile = typeof source.model === 'string' && source.compact && source.cacheDir ? join(source.cacheDir, 'gradients', 'tables') : undefined;
    if (tableFile) {
      const sha256 = await hashFile(source.model as string);
      const cached = await readTable(tableFile, sha256, floatType);
      if (cached) return new GradientProgram(sha256, cached, floatType, source);
      const prepared = await GradientProgram.prepare(source);
      await writeTable(tableFile, prepared.sha256, floatType, prepared.split);
      return new GradientProgram(prepared.sha256, prepared.split, floatType, source, prepared.original);
    }
    const { sha256, split, original } = await GradientProgram.prepare(source);
    return new GradientProgram(sha256, split, floatType, source, original);
  }

  private static async prepare(source: ProgramSource): Promise<{ sha256: string; split: SplitEmbeddings; floatType: number; original: Pick<TensorProto, 'name' | 'rawData'>[] }> {
    const { proto, sha256 } = await readModel(source.model);
    const floatType = source.floatType ?? DataType.FLOAT;
    // Captured before preparation, which may replace tensors (decompositions, float conversion).
    const original = proto.graph!.initializer.map(({ name, rawData }) => ({ name, rawData }));
    return { sha256, split: splitEmbeddings(prepareForGradients(proto, floatType)), floatType, original };
  }

  private get device(): DeviceChoice {
    return this.source.device ?? 'cpu';
  }

  private get cacheDir(): string | undefined {
    return this.source.cacheDir;
  }

  /** The prepared model with its embedding lookup split off (read again if a compact program dropped it). */
  get split(): SplitEmbeddings {
    if (!this.model) throw new Error('The prepared graph of this gradient program was released (compact mode)');
    return { ...this.embedding, table: this.table, model: this.model };
  }

  /** The whole embedding table [vocab, hidden] (read from the cache when a compact program kept only its file). */
  get table(): Float32Array {
    this.embedding.table ??= readWholeTable(this.embedding.tableFile!);
    return this.embedding.table;
  }

  /** Embedding rows of token ids, [ids, hidden]; a compact program reads just these rows from the cached table. */
  embedIds(ids: readonly number[]): Float32Array {
    if (this.embedding.table || !this.embedding.tableFile) return embed(this.table, this.hiddenSize, ids);
    return readTableRows(this.embedding, ids);
  }

  get embeddingsInput(): string {
    return this.embedding.embeddingsInput;
  }

  get hiddenSize(): number {
    return this.embedding.hiddenSize;
  }

  /** Reads and prepares the model again after a compact program dropped it. */
  private async ensurePrepared(): Promise<void> {
    if (this.model) return;
    const { sha256, split, original } = await GradientProgram.prepare(this.source);
    if (sha256 !== this.sha256) throw new Error('The model file changed since this gradient program was opened; open it again');
    this.model = split.model;
    this.original = original;
  }

  /**
   * The prepared model (embeddings as an input), for forward-only graphs built from it (logit lens, occlusion);
   * a compact program reads it again when needed and drops it afterwards.
   */
  async preparedModel(): Promise<ModelProto> {
    await this.ensurePrepared();
    const model = this.model!;
    this.compact();
    return model;
  }

  /** Drops the prepared graph and head graphs (compact programs, path sources): sessions and the table stay. */
  private compact(): void {
    if (!this.source.compact || typeof this.source.model !== 'string') return;
    this.model = undefined;
    this.original = undefined;
    this.heads.clear();
    this.probed.clear();
    // Its entries hold the prepared weights' bytes (to recognise them in new graphs): read again with the model.
    this.weights.clear();
  }

  /** The graph with the target head (kept per target kind). */
  headModel(contrastive: boolean): ModelProto {
    let model = this.heads.get(contrastive);
    if (!model) {
      model = addTargetHead(this.split.model, { contrastive, floatType: this.floatType });
      const graph = model.graph!;
      model = withGraph(model, { input: [...graph.input, makeValueInfo(COTANGENT_INPUT, this.floatType, ['rows', 'batch_size', 'targets'])] });
      this.heads.set(contrastive, model);
    }
    return model;
  }

  private tensor(data: ArrayLike<number>, dims: number[]): Tensor {
    return this.floatType === DataType.DOUBLE
      ? new Tensor('float64', data instanceof Float64Array ? data : Float64Array.from(data), dims)
      : new Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
  }

  /** Feeds for every input the explain graph declares. */
  feeds(model: ModelProto | readonly InputSpec[], run: ProgramRun): Feeds {
    const sequence = run.ids.length;
    const int64 = (values: number[], dims: number[]) => new Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
    const repeat = (values: readonly number[]) => Array.from({ length: run.batch }, () => values).flat();
    const feeds: Feeds = {};
    const inputs: readonly InputSpec[] = Array.isArray(model) ? model : (model as ModelProto).graph!.input.map(inputSpec);
    for (const input of inputs) {
      const name = input.name;
      if (name === this.embeddingsInput) feeds[name] = this.tensor(run.embeddings, [run.batch, sequence, this.hiddenSize]);
      else if (name === 'input_ids') feeds[name] = int64(repeat(run.ids), [run.batch, sequence]);
      else if (name === 'attention_mask') feeds[name] = int64(repeat(run.ids.map(() => 1)), [run.batch, sequence]);
      else if (name === 'position_ids') feeds[name] = int64(repeat(run.ids.map((_, i) => i)), [run.batch, sequence]);
      else if (name === TARGET_INPUTS.positions) feeds[name] = int64([...run.positions], [run.positions.length]);
      else if (name === TARGET_INPUTS.ids) feeds[name] = int64([...run.targetIds], [run.targetIds.length]);
      else if (name === TARGET_INPUTS.foils) feeds[name] = int64([...(run.foilIds ?? [])], [run.foilIds?.length ?? 0]);
      else if (name === COTANGENT_INPUT) feeds[name] = this.tensor(run.cotangent, [run.rows, run.batch, run.targetIds.length]);
      else if (name.startsWith('past_key_values') || name.startsWith('past_')) {
        // The explain pass has no past: an empty cache [batch, kvHeads, 0, headDim].
        const shape = (input.dims ?? []).map((d, axis) => (axis === 0 ? run.batch : axis === 2 ? 0 : typeof d === 'number' ? d : NaN));
        if (shape.length !== 4 || shape.some(Number.isNaN)) throw new GradientError(`Cannot make an empty past for input '${name}'`);
        feeds[name] = this.tensor([], shape);
      } else throw new GradientError(`The explain graph has an input gradients do not know how to feed: '${name}'`);
    }
    return feeds;
  }

  private derivativeKey(run: ProgramRun, weights: readonly string[]): string {
    return [DERIVATIVE_FORMAT, this.sha256, this.floatType, this.source.checkpointAttention !== false, this.source.checkpointLayers ?? 'auto', run.foilIds !== undefined, run.batch, run.ids.length, run.targetIds.length, weights.join(',')].join('|');
  }

  /** File of a derivative graph in the cache folder (undefined without one). */
  private cacheFile(key: string): string | undefined {
    return this.cacheDir ? join(this.cacheDir, 'gradients', `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.onnx`) : undefined;
  }

  private shapeKey(run: ProgramRun): string {
    return [run.foilIds !== undefined, run.batch, run.ids.length, run.targetIds.length].join('|');
  }

  /** Runs forward + backward for one batch of embeddings and seed cotangents. */
  async run(run: ProgramRun, signal?: AbortSignal): Promise<ProgramResult> {
    signal?.throwIfAborted();
    const weights = [...(run.weights ?? [])];
    return this.inBucket(run, weights, signal, async (padded, layout) => {
      const entry = await this.derivative(padded, weights, false, pads(run, layout));
      const feeds = this.feeds(sessionInputs(entry.session!), padded);
      const fetches = [TARGET_OUTPUT, entry.outputs[this.embeddingsInput], ...weights.map((w) => entry.outputs[w])];
      const results = await entry.session!.run(feeds, fetches);
      signal?.throwIfAborted();
      const weightGradients: Record<string, Float32Array | Float64Array> = {};
      for (const w of weights) weightGradients[w] = results[entry.outputs[w]].data as Float32Array;
      const gradient = results[entry.outputs[this.embeddingsInput]].data as Float32Array;
      return {
        logProbs: keepLeading(results[TARGET_OUTPUT].data as Float32Array, run.batch, layout.targets, run.targetIds.length),
        gradient: keepLeading(gradient, run.rows * run.batch, layout.length, run.ids.length, this.hiddenSize),
        weightGradients,
      };
    });
  }

  /** The bucket a run is padded to (its exact shape when buckets are off, unknown to help, or for weight gradients). */
  private layoutOf(run: ProgramRun, weights: readonly string[]): RunLayout {
    const exact = { length: run.ids.length, targets: run.targetIds.length };
    if (this.source.lengthBuckets === false || weights.length > 0 || this.paddable === false) return exact;
    return runLayout(exact.length, exact.targets, run.lengthLimit);
  }

  /**
   * Calls `body` with the run padded to its bucket; if that fails (a model found not causal, a position table
   * shorter than the bucket), once more at the exact shape, which is how every run went before buckets.
   */
  private async inBucket<T>(run: ProgramRun, weights: readonly string[], signal: AbortSignal | undefined, body: (padded: ProgramRun, layout: RunLayout) => Promise<T>): Promise<T> {
    const layout = this.layoutOf(run, weights);
    if (!pads(run, layout)) return body(run, layout);
    try {
      return await body(padRun(run, layout, this.hiddenSize), layout);
    } catch (error) {
      if (signal?.aborted) throw error;
      return body(run, { length: run.ids.length, targets: run.targetIds.length });
    }
  }

  /**
   * One forward pass, then one reverse pass per chunk of seed rows (embedding gradients only): rows that do not
   * fit one run in memory no longer repeat the forward. `run.cotangent` and `run.rows` are ignored.
   */
  async runRows(
    run: ProgramRun,
    chunks: SeedChunk[],
    signal?: AbortSignal,
    /** Takes each chunk's gradient as it arrives; the result then holds none (nothing kept for long). */
    consume?: (chunk: number, gradient: Float32Array) => void,
    /**
     * Nothing runs this shape again (a one-shot run): the forward session is closed once it has returned the saved
     * tensors, before the reverse passes, and the reverse session after them. Each maps the weights file, which RSS
     * counts once per mapping. A later run of the shape opens them again.
     */
    release = false,
  ): Promise<{ logProbs: Float32Array | Float64Array; gradients: (Float32Array | Float64Array)[]; attentionRowBlocks: number; layerCheckpoints: boolean }> {
    signal?.throwIfAborted();
    const exact = { ...run, ...chunks[0], weights: [] };
    const { entry, padded, layout } = await this.inBucket(exact, [], signal, async (padded, layout) => {
      return { entry: await this.derivative(padded, [], true, pads(exact, layout)), padded, layout };
    });
    const { forward, reverse, saved } = entry.passes!;
    const targets = run.targetIds.length;
    const pick = (feeds: Feeds, names: string[]) => Object.fromEntries(names.map((n) => [n, feeds[n]]));
    const all = this.feeds(sessionInputs(forward), padded);
    if (release) for (const [key, open] of this.sessions) if (open === entry) this.sessions.delete(key);
    const gradients: (Float32Array | Float64Array)[] = [];
    let forwardResults: Results;
    try {
      forwardResults = await forward.run(pick(all, forward.inputNames), [TARGET_OUTPUT, ...saved]);
    } finally {
      if (release) await forward.release();
    }
    try {
      for (const [index, chunk] of chunks.entries()) {
        signal?.throwIfAborted();
        const own = sessionInputs(reverse).filter((input) => !saved.includes(input.name));
        const cotangent = padCotangent(chunk.cotangent, chunk.rows * run.batch, targets, layout.targets);
        const feeds = { ...this.feeds(own, { ...padded, cotangent, rows: chunk.rows }), ...pick(forwardResults, saved) };
        const output = entry.outputs[this.embeddingsInput];
        const full = (await reverse.run(feeds, [output]))[output].data as Float32Array;
        const gradient = keepLeading(full, chunk.rows * run.batch, layout.length, run.ids.length, this.hiddenSize);
        if (consume) consume(index, gradient);
        else gradients.push(gradient);
      }
    } finally {
      if (release) await reverse.release();
    }
    const attentionRowBlocks = entry.attentionRowBlocks ?? 0;
    const logProbs = keepLeading(forwardResults[TARGET_OUTPUT].data as Float32Array, run.batch, layout.targets, targets);
    return { logProbs, gradients, attentionRowBlocks, layerCheckpoints: entry.layerCheckpoints === true };
  }

  /** The derivative session(s) for a run's shape, built (or loaded from the cache) on first use. */
  private async derivative(run: ProgramRun, weights: string[], passes: boolean, padded = false): Promise<DerivativeSession> {
    const key = this.derivativeKey(run, weights) + (passes ? '|passes' : '');
    let entry = this.sessions.get(key);
    if (!entry) {
      const contrastive = run.foilIds !== undefined;
      const head = async () => {
        await this.ensurePrepared();
        return this.headModel(contrastive);
      };
      entry = await this.openDerivative(key, head, run, weights, passes, this.probed.get(this.shapeKey(run)));
      this.probed.delete(this.shapeKey(run));
      this.sessions.set(key, entry);
      if (entry.activationBytes) this.activation.set(`${run.batch}|${run.ids.length}`, entry.activationBytes);
      this.paddable = entry.paddable;
      this.compact();
    }
    // The graph stays: it serves runs of exactly this length.
    if (padded && !entry.paddable) throw new ExactLengthNeeded('this model is not causal: runs keep their exact length');
    return entry;
  }

  /**
   * Bytes of all forward tensors of one run at this batch and sequence length (a memory estimate for choosing
   * batch sizes): known once a derivative graph of that shape exists, otherwise measured by a shape probe.
   */
  async activationBytes(exact: ProgramRun): Promise<ActivationSize> {
    // Measured at the shape the derivative graph will have.
    const run = padRun(exact, this.layoutOf(exact, exact.weights ?? []), this.hiddenSize);
    const key = `${run.batch}|${run.ids.length}`;
    let bytes = this.activation.get(key);
    // Either derivative graph of this shape (combined or split in passes) records it in its cache entry.
    for (const suffix of ['', '|passes']) {
      const file = this.cacheFile(this.derivativeKey(run, []) + suffix);
      if (bytes === undefined && file) bytes = await readFile(`${file}.json`, 'utf8').then((t) => JSON.parse(t).activationBytes as ActivationSize, () => undefined);
    }
    if (bytes === undefined) {
      await this.ensurePrepared();
      const model = this.headModel(run.foilIds !== undefined);
      const probe = await this.probe(model, run);
      // Kept for the derivative graph of the same shape, which is usually built next.
      this.probed.set(this.shapeKey(run), probe);
      bytes = activationBytesOf(model, probe.shapes);
      this.activation.set(key, bytes);
    }
    return bytes;
  }

  private async openDerivative(key: string, head: () => Promise<ModelProto>, run: ProgramRun, weights: string[], passes: boolean, probed?: DerivativeProbe): Promise<DerivativeSession> {
    const wrt = [this.embeddingsInput, ...weights];
    const outputs = Object.fromEntries(wrt.map((name) => [name, `grad::${name}`]));
    const name = `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.onnx`;
    const folder = this.cacheDir ? join(this.cacheDir, 'gradients') : await mkdtemp(join(tmpdir(), 'llm-explainer-gradients-'));
    const file = join(folder, name);
    const reverseFile = join(folder, name.replace(/\.onnx$/, '.reverse.onnx'));
    try {
      const cached = await readFile(`${file}.json`, 'utf8').then(
        (t) => JSON.parse(t) as { activationBytes: ActivationSize; saved?: string[]; paddable?: boolean; attentionRowBlocks?: number; layerCheckpoints?: boolean },
        () => undefined,
      );
      if (cached) {
        await touchCacheEntry(`${file}.json`);
        const { attentionRowBlocks, layerCheckpoints } = cached;
        const own = { outputs, activationBytes: cached.activationBytes, paddable: cached.paddable === true, attentionRowBlocks, layerCheckpoints };
        const session = await this.open(file, passes ? 'forward' : 'combined');
        if (!passes) return { session, ...own };
        const reverse = await this.open(reverseFile, reverseRole(cached.activationBytes, attentionRowBlocks ?? 0));
        return { passes: { forward: session, reverse, saved: cached.saved ?? [] }, ...own };
      }
      this.statistics.built++;
      const model = await head();
      const feeds = this.feeds(model, run);
      const probe = probed ?? (await this.probe(model, run));
      const activationBytes = activationBytesOf(model, probe.shapes);
      const shapes = new Map(probe.shapes);
      const folded = foldStatic(model, probe.values, shapes);
      await mkdir(folder, { recursive: true });
      // Explanations compute the last position-wise nodes on the target rows only (target-rows.ts); the rewritten
      // forward must give the probe's target values, or the graph is built again without it (an export whose
      // layout the narrowing misreads costs speed, never correctness).
      // Extrapolated shapes have no target values at this length: the narrowing is checked at the short one.
      const narrow = weights.length === 0 && (!probe.short || (await this.narrowingHolds(model, probe.short)));
      let built = await this.buildDerivative(folded, shapes, feeds, wrt, narrow, passes, folder, name, probe.causal, activationBytes);
      if (narrow && !probe.short && !(await this.matchesProbe(built, feeds, probe.values.get(TARGET_OUTPUT)!))) {
        await built.release();
        built = await this.buildDerivative(folded, shapes, feeds, wrt, false, passes, folder, name, probe.causal, activationBytes);
      }
      const paddable = probe.allCausal;
      const { attentionRowBlocks, layerCheckpoints } = built;
      const weightFiles = [modelWeightsName(this.sha256), this.weightsName];
      await writeFile(`${file}.json`, JSON.stringify({ key, activationBytes, saved: built.passes?.saved, paddable, attentionRowBlocks, layerCheckpoints, weights: weightFiles }));
      if (this.cacheDir) {
        // Open entries (their sessions hold them) and this one stay; older ones go once the cache is over budget.
        const keep = new Set([...this.sessions.keys(), key].map((k) => createHash('sha256').update(k).digest('hex').slice(0, 32)));
        await pruneCache(folder, gradientCacheBudget(), keep);
      }
      return { ...built.entry, outputs, activationBytes, paddable, attentionRowBlocks, layerCheckpoints };
    } finally {
      // Without a cache folder the files only feed session creation (onnxruntime has read them by now).
      if (!this.cacheDir) {
        this.weights.delete(folder);
        await rm(folder, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  /** Builds, writes and opens one derivative graph (combined, or split in passes). */
  private async buildDerivative(
    model: ModelProto,
    probedShapes: Map<string, number[]>,
    feeds: Feeds,
    wrt: string[],
    narrow: boolean,
    passes: boolean,
    folder: string,
    name: string,
    causal: ReadonlySet<string>,
    activation: ActivationSize,
  ): Promise<{ entry: Omit<DerivativeSession, 'outputs' | 'paddable'>; passes?: { saved: string[] }; attentionRowBlocks: number; layerCheckpoints?: boolean; release: () => Promise<void> }> {
    const targets = feeds[TARGET_INPUTS.positions].dims[0];
    const narrowed = narrow ? narrowToTargets(model, probedShapes, targets) : { model, shapes: probedShapes };
    const shapes = new Map(narrowed.shapes);
    // Causal attention in row blocks (causal-blocks.ts); the last layer's narrowed attention is not a site any more.
    const blocks = attentionBlocks(shapes, causal, this.floatType);
    const blocking = blockCausalAttention(narrowed.model, shapes, causal, blocks);
    const blocked = blocking.model;
    const attentionRowBlocks = blocking.rewritten > 0 ? blocks : 0;
    // Explanations seed the body in closed form (head-seed.ts); weight gradients (training) need the head's own.
    const seeded = wrt.length === 1 ? seedThroughHead(blocked, shapes, COTANGENT_INPUT, this.floatType) : undefined;
    const seed = seeded?.seed ?? { tensor: TARGET_OUTPUT, cotangent: COTANGENT_INPUT };
    const derivative = differentiate(seeded?.model ?? blocked, { wrt, seeds: [seed], shapes }).model;
    if (!passes) {
      const session = await this.writeAndOpen(derivative, folder, name, 'combined');
      return { entry: { session }, attentionRowBlocks, release: () => session.release() };
    }
    // The reverse pass recomputes each layer's attention probabilities from Q and Kᵀ instead of taking every layer's
    // from the forward (rematerialise.ts): memory grows with one layer's [heads, T, T], not all of them.
    const checkpointed = this.source.checkpointAttention === false ? derivative : rematerialiseAttention(derivative, shapes, [TARGET_OUTPUT]).model;
    const gradients = wrt.map((w) => `grad::${w}`);
    let split = splitPasses(checkpointed, COTANGENT_INPUT, [TARGET_OUTPUT], gradients, shapes);
    // And each block's other forward tensors from the residual stream (layer-checkpoints.ts), when the forward would
    // save many: it costs about one more forward per reverse pass.
    const setting = this.source.checkpointLayers ?? 'auto';
    const bytes = this.floatType === DataType.DOUBLE ? 8 : 4;
    const savedBytes = split.saved.reduce((sum, name) => sum + bytes * (shapes.get(name) ?? []).reduce((n, d) => n * d, 1), 0);
    const layered = (setting === 'auto' ? savedBytes > LAYER_CHECKPOINTS_ABOVE : setting)
      ? checkpointLayers(checkpointed, shapes, { source: this.embeddingsInput, cotangent: COTANGENT_INPUT, forwardOutputs: [TARGET_OUTPUT] })
      : undefined;
    const layerCheckpoints = (layered?.blocks ?? 0) > 0;
    if (layered && layerCheckpoints) split = splitPasses(layered.model, COTANGENT_INPUT, [TARGET_OUTPUT], gradients, shapes);
    const forward = await this.writeAndOpen(split.forward, folder, name, 'forward');
    const types = new Map(forward.outputs.map((o) => [o.name, o.type]));
    const reverseModel = split.reverse((tensor) => elementTypeOf(types.get(tensor)));
    const reverse = await this.writeAndOpen(reverseModel, folder, name.replace(/\.onnx$/, '.reverse.onnx'), reverseRole(activation, attentionRowBlocks));
    return {
      entry: { passes: { forward, reverse, saved: split.saved } },
      passes: { saved: split.saved },
      attentionRowBlocks,
      layerCheckpoints,
      release: async () => {
        await forward.release();
        await reverse.release();
      },
    };
  }

  /**
   * The derivative probe of a run: at its own length when short, otherwise extrapolated from three short lengths
   * (probe-extrapolation.ts) — a real probe only when some dimension is not explained by the fit.
   */
  private async probe(model: ModelProto, run: ProgramRun): Promise<DerivativeProbe> {
    const length = run.ids.length;
    const place = await this.probePlace();
    const real = async (at: ProgramRun) => {
      this.statistics.probes.push(at.ids.length);
      return probeForDerivative(model, this.feeds(model, at), this.floatType, this.device, place);
    };
    if (this.source.shapeProbe === 'real' || length <= (this.source.extrapolateAbove ?? EXTRAPOLATE_ABOVE)) return real(run);
    const lengths = probeLengths(run.targetIds.length).filter((l) => l < length);
    if (lengths.length < 3) return real(run);
    const short = [];
    for (const at of lengths) {
      const shortened = shortRun(run, at, this.hiddenSize);
      short.push({ length: at, probe: await real(shortened), feeds: this.feeds(model, shortened) });
    }
    const extrapolated = extrapolateShapes(short, length);
    if (!extrapolated) return real(run);
    // The integers to fold, computed at this length from the shapes alone (larger ones are not folded anyway).
    const size = (name: string) => (extrapolated.shapes.get(name) ?? [Infinity]).reduce((n, d) => n * d, 1);
    const folded = staticCandidates(model).filter((name) => size(name) <= MAX_FOLDED_ELEMENTS);
    const results = folded.length > 0 ? await runOnce(staticValuesModel(model, extrapolated.shapes, folded), {}, folded, this.device, place, 'disabled') : {};
    const values = new Map(folded.map((name) => [name, results[name].data]));
    const last = short[short.length - 1];
    return { ...extrapolated, values, short: { probe: last.probe, feeds: last.feeds } };
  }

  /** Whether the graph narrowed to the target rows gives the unmodified graph's target values at a short probe's length. */
  private async narrowingHolds(model: ModelProto, short: NonNullable<DerivativeProbe['short']>): Promise<boolean> {
    const shapes = new Map(short.probe.shapes);
    const folded = foldStatic(model, short.probe.values, shapes);
    const targets = short.feeds[TARGET_INPUTS.positions].dims[0];
    const narrowed = narrowToTargets(folded, shapes, targets).model;
    const values = (await runOnce(narrowed, short.feeds, [TARGET_OUTPUT], this.device, await this.probePlace()))[TARGET_OUTPUT].data;
    return closeTo(values as Float32Array, short.probe.values.get(TARGET_OUTPUT) as Float32Array);
  }

  /** Whether a built graph's target values equal the unmodified head graph's (from the shape probe). */
  private async matchesProbe(built: { entry: Omit<DerivativeSession, 'outputs' | 'paddable'> }, feeds: Feeds, reference: Tensor['data']): Promise<boolean> {
    const session = built.entry.session ?? built.entry.passes!.forward;
    const own = Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]]));
    const values = (await session.run(own, [TARGET_OUTPUT]))[TARGET_OUTPUT].data as Float32Array;
    return closeTo(values, reference as Float32Array);
  }

  /** File name of this model's shared weights in a cache folder (one per model file, float type and format). */
  private get weightsName(): string {
    return `weights-${createHash('sha256').update([DERIVATIVE_FORMAT, this.sha256, this.floatType].join('|')).digest('hex').slice(0, 32)}.data`;
  }

  /** With a cache folder, probes are written there and refer to the shared weights (no copy written or mapped). */
  private async probePlace(): Promise<ProbePlace | undefined> {
    if (!this.cacheDir) return undefined;
    const folder = join(this.cacheDir, 'gradients');
    await mkdir(folder, { recursive: true });
    return { folder, shared: await this.sharedWeights(folder) };
  }

  /** The prepared model's weights in `folder`, written on first use (the prepared graph must be loaded). */
  private sharedWeights(folder: string): Promise<SharedWeights> {
    let shared = this.weights.get(folder);
    if (!shared) {
      shared = this.writeSharedWeights(folder);
      this.weights.set(folder, shared);
      shared.catch(() => this.weights.delete(folder));
    }
    return shared;
  }

  /**
   * Weights the prepared model kept as read refer to the model's own weights file (the one the plain and attention
   * sessions map too); only what preparation changed (converted or decomposed tensors) goes to this program's file.
   */
  private async writeSharedWeights(folder: string): Promise<SharedWeights> {
    const prepared = this.split.model.graph!.initializer;
    const model = await sharedWeightsFile(this.original ?? [], folder, modelWeightsName(this.sha256));
    const kept = (tensor: TensorProto) => model.tensors.get(tensor.name)?.rawData === tensor.rawData;
    const own = await sharedWeightsFile(prepared.filter((tensor) => !kept(tensor)), folder, this.weightsName);
    const tensors: SharedWeights['tensors'] = new Map(own.tensors);
    for (const tensor of prepared.filter(kept)) tensors.set(tensor.name, { ...model.tensors.get(tensor.name)!, location: model.location });
    return { location: own.location, tensors };
  }

  /**
   * Writes a graph under a temporary name, renames it (a crash never leaves half a graph) and opens it. Weights the
   * graph shares with the prepared model are not written again: the graph refers to the model's shared weights file.
   */
  private async writeAndOpen(model: ModelProto, folder: string, name: string, role: SessionRole): Promise<SessionHandle> {
    const temporary = join(folder, `tmp-${process.pid}-${name}`);
    await writeModelFiles(model, temporary, `${name}.data`, await this.sharedWeights(folder));
    await rename(`${temporary}.data`, join(folder, `${name}.data`));
    await rename(temporary, join(folder, name));
    return this.open(join(folder, name), role);
  }

  private open(file: string, role: SessionRole): Promise<SessionHandle> {
    this.statistics.sessionsOpened++;
    // Float64 programs (finite-difference tests) get basic optimisations only: onnxruntime's extended fusions
    // (x·σ(x) → QuickGelu, tanh Gelu → FastGelu) have no float64 kernel or compute with float32 constants — the gemma2
    // export's gradients were 1e-8 off, and a forward that saves only the residual stream (layer-checkpoints.ts) no
    // longer returns the tensors that kept those fusions away.
    const level = this.floatType === DataType.DOUBLE ? { graphOptimizationLevel: 'basic' as const } : {};
    return createSession(file, this.device, { ...SESSION_OPTIONS[role], ...level });
  }

  /** Frees every open session. */
  async release(): Promise<void> {
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    const sessions = entries.flatMap((e) => (e.passes ? [e.passes.forward, e.passes.reverse] : [e.session!]));
    await Promise.all(sessions.map((session) => session.release()));
  }
}
