// computeGradients: every gradient method of one run from the derivative graph of one model.
//
// Rows: for target 'token', row t is log p(answer_t | everything before it), read at position
// promptLength + t − 1; 'contrastive' rows are log p(answer_t) − log p(foil_t) there; 'sequence' has one row,
// the summed answer log-probability. All rows share one forward pass: their reverse passes run batched in the
// same session run (the seed cotangent is the identity over rows), in chunks of `rowsPerRun` when memory asks.
// `sequence` (saliency and gradient × input of the summed target) comes from the sum of the row gradients.
// Integrated gradients run the path points as a batch of interpolated embeddings with the all-ones seed.
import { statSync } from 'node:fs';
import type { DeviceChoice } from '../../../shared/run';
import { DataType } from '../onnx/proto';
import { sumRows } from './methods/grad-x-input';
import { GRADIENT_METHOD_IDS, ROW_METHODS } from './methods/index';
import {
  attributionsFrom,
  baselineEmbeddings,
  completeness,
  interpolate,
  type IntegratedGradientsResult,
  type IntegratedGradientsSettings,
} from './methods/integrated-gradients';
import { geometricSpacing, quadrature } from './methods/quadrature';
import type { SaliencyNorm } from './methods/saliency';
import { GradientProgram } from './program';
import type { GradientResult, GradientTarget } from './gradient-result';

export type { GradientResult, GradientTarget } from './gradient-result';

/** A gradient-family method id of shared/method-catalog (`gradient` is the raw gradient). */
export type GradientMethod = 'saliency' | 'grad_x_input' | 'gradient' | 'integrated_gradients';
export const GRADIENT_METHODS = GRADIENT_METHOD_IDS as readonly GradientMethod[];

/** Defaults chosen from the completeness measurements in the README (pad baseline, Gauss–Legendre). */
const DEFAULT_IG: Readonly<IntegratedGradientsSettings> = Object.freeze({ steps: 32, baseline: 'pad', rule: 'gauss-legendre' });

export interface ComputeGradientsOptions {
  /** Model file (.onnx, external data next to it) or its bytes; or an open program (tests, benchmarks). */
  modelPath?: string;
  bytes?: Uint8Array;
  program?: GradientProgram;
  /** Token ids used for the pad baseline: pad, else unk (else 0). */
  config?: { padTokenId?: number; unkTokenId?: number; maxPositions?: number };
  ids: number[];
  promptLength: number;
  methods: readonly GradientMethod[];
  target?: GradientTarget;
  /** Foil token per answer token (or one for all) for contrastive targets. */
  foilIds?: number[];
  saliencyNorm?: SaliencyNorm;
  ig?: Partial<IntegratedGradientsSettings>;
  /** Answer rows differentiated per session run (default: from a memory budget). */
  rowsPerRun?: number;
  /** Memory the batched reverse passes may use beyond the session (default 80 MB for rows, 1.5 GB for IG batches). */
  memoryBudgetBytes?: number;
  /**
   * What the run's memory budget leaves above its estimated peak (main/engine/memory-check.ts): row chunks and IG
   * batches grow into half of it beyond their defaults (the estimate charges one row per reverse pass, and IG
   * batches by the default budget).
   */
  memoryHeadroomBytes?: number;
  device?: DeviceChoice;
  cacheDir?: string;
  signal?: AbortSignal;
  /** Float type to differentiate in when opening the model here (default float32). */
  floatType?: number;
  /**
   * Nothing uses the program after this call (a one-shot run, ExplainContext.oneShot): the answer rows' sessions are
   * closed as soon as each has run — unless integrated gradients follow, whose one-point passes run the same graphs.
   */
  oneShot?: boolean;
}


/**
 * Default memory budgets beyond the session's weights. Measured on the 56 M bench model (T = 512): a row of a
 * reverse pass costs about 4× the largest forward tensor (8 MB there, so 2 rows per pass; 2, 3 and 4 rows per pass
 * took the same time within noise, 8 rows took 1.4 GB of memory), an IG point about its forward activations.
 */
const ROW_BUDGET = 80e6;
/**
 * Rows per reverse pass that the budget's headroom may grow a chunk to. 40 M bench model at 512 tokens, machine
 * shared: 8 and 32 rows per pass took the same time with the arena (38 s), and 32 took 5× as long without it.
 */
const MAX_GROWN_ROWS = 8;
const IG_BUDGET = 1.5e9;

/** Memory for batched reverse passes or path points: given, or the default and half the budget's headroom. */
function chunkBudget(options: ComputeGradientsOptions, fallback: number): number {
  return options.memoryBudgetBytes ?? fallback + Math.max(0, options.memoryHeadroomBytes ?? 0) / 2;
}

const programs = new Map<string, { stamp: string; program: Promise<GradientProgram> }>();

/**
 * An open program for a model path, shared between runs (sessions stay open: runs are one sequence each). A model
 * file rewritten in place (a re-export) gets a new program; the old one's sessions are released.
 */
export function openGradientProgram(modelPath: string, device: DeviceChoice = 'cpu', cacheDir?: string, floatType = DataType.FLOAT): Promise<GradientProgram> {
  const key = `${modelPath}|${device}|${floatType}`;
  const info = statSync(modelPath, { throwIfNoEntry: false });
  const stamp = info ? `${info.size}|${info.mtimeMs}` : '';
  const known = programs.get(key);
  if (known?.stamp === stamp) return known.program;
  if (known) known.program.then((old) => old.release()).catch(() => undefined);
  const program = GradientProgram.open({ model: modelPath, device, cacheDir, floatType, compact: true });
  programs.set(key, { stamp, program });
  program.catch(() => programs.delete(key));
  return program;
}

/** Releases every cached program's sessions. */
export async function releaseGradientPrograms(): Promise<void> {
  const open = [...programs.values()].map((entry) => entry.program);
  programs.clear();
  await Promise.all(open.map(async (p) => (await p).release()));
}

/**
 * Computes the requested gradient methods for one teacher-forced sequence.
 *
 * Example: `computeGradients({ modelPath, ids: [1, 450, 4996, 29889], promptLength: 2, methods: ['saliency'] })`
 * → `{ rows: 2, positions: 4, saliency: Float32Array(8) [s00, s01, 0, 0, s10, s11, s12, 0], … }`.
 */
export async function computeGradients(options: ComputeGradientsOptions): Promise<GradientResult> {
  const { ids, promptLength } = options;
  const target = options.target ?? 'token';
  const answerLength = ids.length - promptLength;
  if (promptLength < 1 || answerLength < 1) throw new Error(`gradients need a prompt and an answer of at least one token each (prompt ${promptLength}, answer ${answerLength})`);
  if (target === 'contrastive' && !options.foilIds?.length) throw new Error('contrastive targets need foil token ids');
  const unknown = options.methods.find((method) => !GRADIENT_METHOD_IDS.includes(method));
  if (unknown !== undefined) throw new Error(`unknown gradient method "${unknown}"; valid: ${GRADIENT_METHOD_IDS.join(', ')}`);
  const program = options.program ?? (options.modelPath
    ? await openGradientProgram(options.modelPath, options.device, options.cacheDir, options.floatType)
    : await GradientProgram.open({ model: options.bytes!, device: options.device, cacheDir: options.cacheDir, floatType: options.floatType }));
  const positions = ids.length;
  const hidden = program.hiddenSize;
  const input = program.embedIds(ids);
  const targetPositions = Array.from({ length: answerLength }, (_, t) => promptLength + t - 1);
  const targetIds = ids.slice(promptLength);
  const foilIds = target === 'contrastive' ? targetIds.map((_, t) => options.foilIds![options.foilIds!.length === 1 ? 0 : t]) : undefined;
  // The maximum positions bound the length bucket derivative graphs are padded to (length-buckets.ts).
  const base = { ids, positions: targetPositions, targetIds, foilIds, lengthLimit: options.config?.maxPositions };

  const reducers = options.methods.filter((method) => ROW_METHODS[method]).map((method) => ROW_METHODS[method]);
  const result: GradientResult = { target, rows: 0, positions, hidden, sequence: {}, targetLogProbs: [] };
  if (reducers.length > 0 || options.methods.length === 0) {
    const rows = target === 'sequence' ? 1 : answerLength;
    let chunk = options.rowsPerRun ?? rows;
    if (options.rowsPerRun === undefined && rows > 1) {
      // A row's cotangents live briefly, a few of the largest forward tensors at a time.
      const size = await program.activationBytes({ ...base, embeddings: input, batch: 1, cotangent: new Float32Array(answerLength), rows: 1 });
      const rowsIn = (bytes: number) => Math.floor(bytes / (4 * size.largest));
      // A given budget decides alone; the budget's headroom grows the default only up to MAX_GROWN_ROWS (no faster past it).
      const fitting = options.memoryBudgetBytes !== undefined
        ? rowsIn(options.memoryBudgetBytes)
        : Math.min(rowsIn(chunkBudget(options, ROW_BUDGET)), Math.max(rowsIn(ROW_BUDGET), MAX_GROWN_ROWS));
      chunk = Math.max(1, Math.min(rows, fitting));
      // Equal chunks: the same work per run, and no tiny last run.
      chunk = Math.ceil(rows / Math.ceil(rows / chunk));
    }
    const chunks: { start: number; cotangent: Float32Array; rows: number }[] = [];
    for (let start = 0; start < rows; start += chunk) {
      const count = Math.min(chunk, rows - start);
      // Seed: row r of this chunk selects target start + r (or all targets for the sequence row).
      const cotangent = new Float32Array(count * answerLength);
      for (let r = 0; r < count; r++) {
        if (target === 'sequence') cotangent.fill(1, r * answerLength, (r + 1) * answerLength);
        else cotangent[r * answerLength + start + r] = 1;
      }
      chunks.push({ start, cotangent, rows: count });
    }
    // Each chunk's gradient [count, positions, hidden] is reduced by every requested row method as it arrives
    // (methods/row-reducer): only the raw gradient keeps it whole.
    const size = positions * hidden;
    const reductions = reducers.map((reducer) => reducer.start({ rows, positions, hidden, input, saliencyNorm: options.saliencyNorm ?? 'l2' }));
    const summed = new Float32Array(size);
    const consume = (index: number, gradient: Float32Array) => {
      const { start, rows: count } = chunks[index];
      for (const reduction of reductions) reduction.consume(start, count, gradient);
      const chunkSum = count === 1 ? gradient : sumRows(gradient, count, size);
      for (let i = 0; i < size; i++) summed[i] += chunkSum[i];
    };
    // One forward for all chunks; each chunk's rows go through the reverse pass together.
    const release = options.oneShot === true && !options.methods.includes('integrated_gradients');
    const out = await program.runRows({ ...base, embeddings: input, batch: 1, cotangent: chunks[0].cotangent, rows: chunks[0].rows }, chunks, options.signal, consume, release);
    result.targetLogProbs = Array.from(out.logProbs, Number);
    result.chunking = { rowsPerReversePass: chunk, reversePasses: chunks.length, attentionRowBlocks: out.attentionRowBlocks, layerCheckpoints: out.layerCheckpoints };
    result.rows = rows;
    for (const reduction of reductions) reduction.finish(summed, result);
  }
  if (options.methods.includes('integrated_gradients')) {
    const { rowValues, ...ig } = await integratedGradients(program, options, base, input, answerLength).catch((error: unknown) => {
      // Some exports declare a dynamic batch but bake a batch of 1 into a Reshape (torch.export specialises the
      // example's batch of 1): batched path points then fail in onnxruntime, and they run one at a time instead.
      if (options.ig?.batchSize === 1 || options.signal?.aborted) throw error;
      return integratedGradients(program, { ...options, ig: { ...options.ig, batchSize: 1 } }, base, input, answerLength);
    });
    result.integratedGradients = ig;
    if (result.targetLogProbs.length === 0) result.targetLogProbs = rowValues;
  }
  return result;
}

async function integratedGradients(
  program: GradientProgram,
  options: ComputeGradientsOptions,
  base: { ids: number[]; positions: number[]; targetIds: number[]; foilIds?: number[]; lengthLimit?: number },
  input: Float32Array,
  answerLength: number,
): Promise<IntegratedGradientsResult & { rowValues: number[] }> {
  // Unset fields (undefined) keep the defaults: callers pass CLI options through as they are.
  const given = Object.fromEntries(Object.entries(options.ig ?? {}).filter(([, value]) => value !== undefined));
  const settings: IntegratedGradientsSettings = { ...DEFAULT_IG, ...given };
  const positions = base.ids.length;
  const hidden = program.hiddenSize;
  const size = positions * hidden;
  const tokenId = settings.baselineTokenId ?? options.config?.padTokenId ?? options.config?.unkTokenId ?? 0;
  // The pad baseline needs one row of the table: read just that row (a one-row table).
  const table = program.embedIds([tokenId]);
  let baseline = baselineEmbeddings(settings.baseline, input, hidden, { table, tokenId: 0, scale: settings.scale });
  // Models trained with a padding_idx keep the pad token's row at zero (OPT; Hugging Face initialises the row of
  // any configured pad_token_id so). Such a "neutral token" is the zero baseline, whose steep path uniform rules
  // miss (96% completeness error on a torch llama export at 8 steps), so the scaled input takes its place, and the
  // result says so. Ask for the zero baseline to get that path.
  let note: string | undefined;
  if (settings.baseline === 'pad' && table.every((v) => v === 0)) {
    settings.baseline = 'scaled';
    baseline = baselineEmbeddings('scaled', input, hidden, { scale: settings.scale });
    note = `Token ${tokenId}'s embedding (the pad baseline) is all zeros, so the scaled input (×${settings.scale ?? 0.1}) is the baseline instead`;
  }
  // Uniform is the rule exactly as Captum defines it; geometric is the zero baseline's default (README).
  const spacingDefaulted = settings.spacing === undefined;
  const spacing = settings.spacing ?? (baseline.every((v) => v === 0) ? 'geometric' : 'uniform');
  const rule = quadrature(settings.rule, settings.steps);
  const { points, weights } = spacing === 'geometric' ? geometricSpacing(rule) : rule;
  // f at both ends is needed for completeness; the rule's own points may include them (trapezoid).
  const path = points.map((alpha, k) => ({ alpha, weight: weights[k] }));
  for (const end of [0, 1]) if (!points.includes(end)) path.push({ alpha: end, weight: 0 });
  const chosen = settings.batchSize === undefined ? await chooseBatch(program, options, base, input, answerLength) : { batch: settings.batchSize, fits: true };
  const passes = settings.passes ?? (chosen.fits ? 'combined' : 'checkpointed');
  const largest = passes === 'checkpointed' ? 1 : Math.min(path.length, chosen.batch);
  // Equal batches (66 points at most 16 per run: 5 runs of 14, not 4 of 16 and a fifth padded from 2 to 16).
  const batch = passes === 'checkpointed' ? 1 : settings.batchSize ?? Math.ceil(path.length / Math.ceil(path.length / largest));
  const weighted = new Float64Array(size);
  const values = new Map<number, number>();
  let rowValues: number[] = [];
  /** Adds one path point's target values [answer] and gradient [positions, hidden]. */
  const accumulate = (point: { alpha: number; weight: number }, real: boolean, logProbs: ArrayLike<number>, gradient: ArrayLike<number>) => {
    let f = 0;
    for (let r = 0; r < answerLength; r++) f += Number(logProbs[r]);
    if (real) values.set(point.alpha, f);
    if (point.alpha === 1) rowValues = Array.from(logProbs, Number);
    if (point.weight === 0) return;
    for (let i = 0; i < size; i++) weighted[i] += point.weight * gradient[i];
  };
  for (let start = 0; start < path.length; start += batch) {
    // Every run has the same batch (one derivative graph): the last chunk repeats a point with weight 0.
    const chunk = Array.from({ length: batch }, (_, b) => path[start + b] ?? { alpha: path[start].alpha, weight: 0 });
    const embeddings = new Float32Array(batch * size);
    chunk.forEach((point, b) => interpolate(baseline, input, point.alpha, embeddings, b * size));
    const cotangent = new Float32Array(batch * answerLength).fill(1);
    if (passes === 'checkpointed') {
      // The summed target as the one row of the answer-row passes: one layer's attention at a time, as rows do.
      const out = await program.runRows({ ...base, embeddings, batch: 1, cotangent, rows: 1 }, [{ cotangent, rows: 1 }], options.signal);
      accumulate(chunk[0], true, out.logProbs, out.gradients[0]);
      continue;
    }
    const out = await program.run({ ...base, embeddings, batch, cotangent, rows: 1 }, options.signal);
    chunk.forEach((point, b) => {
      const logProbs = out.logProbs.subarray(b * answerLength, (b + 1) * answerLength);
      accumulate(point, start + b < path.length, logProbs, out.gradient.subarray(b * size, (b + 1) * size));
    });
  }
  const attributions = attributionsFrom(weighted, input, baseline, positions, hidden);
  const delta = values.get(1)! - values.get(0)!;
  return { steps: settings.steps, baseline: settings.baseline, rule: settings.rule, spacing, spacingDefaulted, attributions, delta, ...completeness(attributions, delta), note, pointsPerRun: batch, passes, rowValues };
}

/**
 * Path points per run: as many as fit the memory budget, judged from one probe of a single point; `fits` is false
 * when not even one point does (the checkpointed passes then take them one at a time).
 */
async function chooseBatch(
  program: GradientProgram,
  options: ComputeGradientsOptions,
  base: { ids: number[]; positions: number[]; targetIds: number[]; foilIds?: number[]; lengthLimit?: number },
  input: Float32Array,
  answerLength: number,
): Promise<{ batch: number; fits: boolean }> {
  const size = await program.activationBytes({ ...base, embeddings: input, batch: 1, cotangent: new Float32Array(answerLength).fill(1), rows: 1 });
  const budget = chunkBudget(options, IG_BUDGET);
  // Forward activations stay alive for the reverse pass; cotangents add a few of the largest tensors.
  const perPoint = size.total + 4 * size.largest;
  return { batch: Math.max(1, Math.min(16, Math.floor(budget / Math.max(1, perPoint)))), fits: perPoint <= budget };
}
