// Peak memory of one run, estimated before anything heavy is loaded: from the model's dimensions, the token counts
// and the methods alone. The rule models what the engine allocates today (main/engine: pipeline, attention/compute,
// gradients/program, compute, passes) and its coefficients were fitted to the peak RSS of real CLI processes on
// builder models (test/integration/memory/estimate.test.ts; README "What fits").
//
// The rule (bytes; F = bytes of the ONNX file and its external data, W = F in float32, the weights the gradient
// programs hold; T = prompt + answer tokens; A = answer tokens; R = stored attention rows, A or T; L layers, H heads,
// d hidden, I intermediate, V vocabulary; P = 4·H·T², one layer's [heads, T, T] float32 probabilities):
//   peak = RUNTIME + the largest stage
//   generate    SESSION·F + FORWARD                           plain session; FORWARD = LOGITS·4TV + ATTENTION_P·P
//                                                             (not charged when the answer is supplied)
//   attention   ATTENTION_F·F + ATTENTION_P·P + 4·L·T²        plain + instrumented sessions and the model bytes the
//               + 12·L·H·R·T                                  rewrite reads and encodes; the instrumented forward, which
//                                                             computes no logits and frees each layer's probabilities
//                                                             before the next layer's (attention/layer-order.ts), and
//                                                             holds every layer's [T, T] rollout matrix; the stored
//                                                             rows (float32 output, JSON arrays of doubles)
//   rows        F + (ROWS_F − 1)·W + max(PROBE_P·L·Pₚ, 8·L·(3TI + 10Td) + REVERSE_P·P + REVERSE_BLOCK_P·P/n)
//               + the attention rows (still held)
//               plain session, derivative build and forward/reverse sessions; then the larger of
//               - the shape probe that builds a length bucket's derivative graphs (gradients/shape-probe.ts): it holds
//                 every layer's activations, [H, Tₚ, Tₚ] scores and probabilities included, at once (rule 2 called
//                 this term "saved probabilities"); Pₚ = 4·H·Tₚ². Rule 4: past 256 tokens the probe runs at three
//                 short lengths only (Tₚ = A + 32, gradients/probe-extrapolation.ts), so at long lengths the runs'
//                 own term is the larger; rule 3 had Tₚ = T;
//               - the runs themselves: the forward's saved MLP and hidden tensors, twice, and the checkpointed reverse
//                 pass (gradients/rematerialise.ts), which recomputes one row block of one layer's probabilities at a
//                 time (n blocks, attentionRowBlocks): about 4 of a block's [H, T/n, T] tensors, whatever L is, and
//                 2 full [H, T, T] tensors for what a CLI process held above that at 2,048 tokens (not traced)
//                 Rule 5 also: when the saved tensors (4·L·(3TI + 10Td), one copy) exceed LAYER_CHECKPOINTS_ABOVE, the
//                 forward saves only the residual stream between blocks and the reverse pass recomputes one block's
//                 tensors at a time (gradients/layer-checkpoints.ts): 16·L·Td + LAYER_BLOCKS·4·(3TI + 10Td) instead (4.5),
//                 fitted to reduced models of the bench's two shapes (README "Layer checkpoints, measured")
//   IG          F + (IG_F − 1)·W + batch·point, point = IG_P·L·P + 4·L·(8TI + 20Td): the combined graph keeps every
//               activation of each path point; batch = clamp(⌊1.5 GB / (point + 4·P)⌋, 1, 16, steps + 2) as compute.ts
//               chooses it. Rule 4: when point + 4·P > 1.5 GB, points go one at a time through the rows' checkpointed
//               passes: the rows stage's sessions and runs term instead. Rows and IG in one run: the larger, plus 2·W
//               for the other program's sessions.
// Fitted on llama builder models of 1–20 M parameters at 256–2,048 tokens (attention, rows and IG measured apart;
// estimate ÷ measured 0.97–1.23) and the scale bench's 246 M model (attention at 1,024 tokens: 5.8 GB measured, 6.1
// estimated); issue 12's 213 M model at 1,024 tokens (10.8 GB measured on its first run, 850 MB file): 12.8 GB.

import { forwardMethodStages, type ForwardBatches, type ForwardStage } from './memory-estimate-forward';
import { longestProbe } from './probe-lengths';

/**
 * Row blocks of causal attention in derivative graphs (main/engine/gradients/causal-blocks.ts): at least 2 (3/4 of the
 * [T, T] work), and more at long lengths, so that one block's [heads, T/n, T] tensors stay within ATTENTION_TILE_BYTES:
 * the checkpointed reverse pass holds a handful of them at a time.
 *
 * Example: `attentionRowBlocks(4 * 8 * 512 * 512)` → 2; `attentionRowBlocks(4 * 8 * 8192 * 8192)` → 17.
 */
export function attentionRowBlocks(probabilityBytes: number): number {
  return Math.max(2, Math.min(MAX_ATTENTION_BLOCKS, Math.ceil(probabilityBytes / ATTENTION_TILE_BYTES)));
}
export const ATTENTION_TILE_BYTES = 128e6;
const MAX_ATTENTION_BLOCKS = 64;

/** The numbers of a model the estimate needs (config.json and the file size). */
export interface ModelDimensions {
  layers: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  headDim: number;
  vocab: number;
  /** MLP width (`intermediate_size`, `n_inner`, …; 4 × hidden when the config states none). */
  intermediate: number;
  /** Bytes of the chosen ONNX file and its external data. */
  fileBytes: number;
  /** Bytes per weight in that file: 4 fp32, 2 fp16, 1 q8, 0.5 q4 (gradient programs hold float32). */
  weightBytes: number;
}

/** What a run asks for. */
export interface RunShape {
  promptLength: number;
  /** Answer tokens (supplied) or the most that generation may add (max new tokens). */
  answerLength: number;
  /** The answer is supplied: nothing is generated, so the generate stage (a forward with full logits) is not charged. */
  answerSupplied?: boolean;
  methods: readonly string[];
  attentionRows: 'answer' | 'all';
  igSteps: number;
  /** The raw gradient [row, col, hidden] is kept. */
  rawGradient?: boolean;
  /** The memory budget: forward-only stages size their batches to it (memory-estimate-forward.ts). */
  budgetBytes?: number;
  /**
   * Whether the gradient programs use layer checkpoints (default: as they decide, LAYER_CHECKPOINTS_ABOVE; false: the
   * engine before them, which the peaks measured then were taken with).
   */
  layerCheckpoints?: boolean;
}

export interface MemoryPart {
  name: string;
  bytes: number;
}

export interface MemoryEstimate {
  /** Estimated peak resident memory of the process doing the run. */
  peakBytes: number;
  /** The stage at the peak. */
  stage: 'generate' | 'attention' | 'gradients' | ForwardStage['stage'];
  /** What the peak is made of, largest first. */
  parts: MemoryPart[];
  /** Batch sizes of the forward-only stages, chosen within the budget (memory-estimate-forward.ts). */
  batches: ForwardBatches;
}

/** Version of the rule, recorded with every run so that estimates can be compared with measured peaks later. */
export const MEMORY_RULE_VERSION = 5;

/**
 * Bytes of forward tensors saved for the reverse passes of answer rows (one copy) above which the forward saves only the
 * residual stream between blocks and the reverse pass recomputes each block's tensors (main/engine/gradients/
 * layer-checkpoints.ts, which costs about one more forward per reverse pass). The program decides on the saved tensors
 * it would hand over; the estimate on its own model of them, 4·L·(3TI + 10Td).
 */
export const LAYER_CHECKPOINTS_ABOVE = 128e6;

/** Fitted coefficients (see the header). */
export const MEMORY_COEFFICIENTS = Object.freeze({
  RUNTIME: 360e6,
  SESSION: 1.6,
  LOGITS: 2.3,
  ATTENTION_P: 3,
  // Weight terms (since the sessions of a model map one weights file, gradients/model-files.ts): the attention stage
  // holds the mapped weights, counted in RSS once per session that maps them (plain, instrumented) plus the model's
  // bytes read for a first build (was 5.2: two inline copies, the bytes, and onnxruntime parsing them); the rows stage
  // no longer holds a reverse session's pre-packed and transposed copies (was 4). Attention 2.5 (was 3) since its graph
  // keeps only the explain outputs: fitted to first runs (graphs built) of the 246 M bench model at 1,024 tokens
  // (3.18 GB) and the 40 M one at 2,048 (1.48 GB) (README "What fits").
  ATTENTION_F: 2.5,
  ROWS_F: 2.5,
  PROBE_P: 5.5,
  // Rule 5: the reverse pass differentiates one row block at a time without onnxruntime's memory pattern (README "The
  // reverse pass, traced": it rose 2.3–3.4 blocks' [H, T/n, T] above the forward's results on reduced 40 M models,
  // 2,048 and 4,096 tokens, 1–5 layers; rule 4 had charged 15·P for the blocks of every layer it held at once). The
  // 40 M model's CLI run at 2,048 tokens, one row per pass, peaked at 3.49 GB: 2·P covers what it held above the other
  // terms (0.77 of it estimated; not traced, so charged with P as before rule 4's re-fit).
  REVERSE_P: 2,
  REVERSE_BLOCK_P: 4,
  // Rule 5 also: with layer checkpoints, the runs hold the residual stream between blocks (twice) and this many layers'
  // saved tensors (one copy each): the recomputed block's, and what the peak of a reverse pass holds besides. Fitted so
  // that the saving charged stays under the smaller of two measured: the 246 M shape with 4 layers at 1,024 tokens
  // (213 and 251 MB below the engine without checkpoints; 201 MB charged), the 40 M shape with 3 layers at 4,096 tokens
  // (368 and 711 MB; 126 MB charged).
  LAYER_BLOCKS: 4.5,
  IG_F: 3.7,
  IG_P: 6.3,
  IG_BUDGET: 1.5e9,
});

function largerOf(a: MemoryPart[], b: MemoryPart[]): MemoryPart[] {
  const total = (list: MemoryPart[]) => list.reduce((sum, part) => sum + part.bytes, 0);
  return total(a) >= total(b) ? a : b;
}

const GRADIENT_METHODS = new Set(['saliency', 'grad_x_input', 'gradient', 'integrated_gradients']);

/**
 * Estimates the peak memory of one run.
 *
 * Example: the demo model (3 layers, 4 heads, hidden 64, intermediate 192, vocab 565, 1 MB fp32) with 464 + 16
 * tokens and attention, saliency, grad_x_input → `{peakBytes: ≈ 0.45e9, stage: 'gradients', parts: [...]}` (measured
 * in a CLI process: 0.41 GB).
 */
export function estimatePeakMemory(model: ModelDimensions, run: RunShape): MemoryEstimate {
  const c = MEMORY_COEFFICIENTS;
  const T = run.promptLength + run.answerLength;
  const A = run.answerLength;
  const { layers: L, heads: H, hidden: d, intermediate: I, vocab: V } = model;
  const F = model.fileBytes;
  const W = (F * 4) / Math.max(0.25, model.weightBytes);
  const P = 4 * H * T * T;
  const probeLength = longestProbe(T, A);
  const forward: MemoryPart = { name: 'forward pass (full logits, one layer of attention)', bytes: c.LOGITS * 4 * T * V + c.ATTENTION_P * P };
  const stages: { stage: MemoryEstimate['stage']; parts: MemoryPart[] }[] = run.answerSupplied
    ? []
    : [{ stage: 'generate', parts: [{ name: 'plain session', bytes: c.SESSION * F }, forward] }];
  const rows: MemoryPart = { name: 'stored attention rows', bytes: 0 };
  const attentionMethods = run.methods.filter((m) => m === 'attention' || m === 'attention_norm').length;
  if (attentionMethods > 0) {
    rows.bytes = attentionMethods * 12 * L * H * (run.attentionRows === 'all' ? T : A) * T;
    const instrumented: MemoryPart = { name: "instrumented forward (one layer's scores and probabilities, every layer's rollout matrix)", bytes: c.ATTENTION_P * P + 4 * L * T * T };
    stages.push({ stage: 'attention', parts: [{ name: 'sessions and graph rewrite', bytes: c.ATTENTION_F * F }, instrumented, rows] });
  }
  const rowMethods = run.methods.some((m) => m !== 'integrated_gradients' && GRADIENT_METHODS.has(m));
  const wantsIg = run.methods.includes('integrated_gradients');
  if (rowMethods || wantsIg) {
    const parts: MemoryPart[] = [rows];
    // One layer's saved MLP and hidden tensors, one copy; the runs hold them twice (forward outputs, reverse inputs).
    const layerSaved = 4 * (3 * T * I + 10 * T * d);
    const saved: MemoryPart =
      (run.layerCheckpoints ?? L * layerSaved > LAYER_CHECKPOINTS_ABOVE)
        ? { name: 'saved residual stream and one recomputed block (layer checkpoints)', bytes: 16 * L * T * d + c.LAYER_BLOCKS * layerSaved }
        : { name: 'saved MLP and hidden tensors', bytes: 2 * L * layerSaved };
    const rowRuns: MemoryPart[] = [
      saved,
      { name: `checkpointed reverse pass (one layer's attention, ${attentionRowBlocks(P)} row blocks)`, bytes: c.REVERSE_P * P + (c.REVERSE_BLOCK_P * P) / attentionRowBlocks(P) },
    ];
    const rowStage: MemoryPart[] = [
      { name: 'sessions and derivative build', bytes: F + (c.ROWS_F - 1) * W },
      ...largerOf(
        [{ name: `shape probe of a new length bucket (every layer's activations at ${probeLength} tokens)`, bytes: c.PROBE_P * L * 4 * H * probeLength ** 2 }],
        rowRuns,
      ),
      { name: 'gradients', bytes: 4 * T * d * (run.rawGradient ? A + 2 : 2) },
    ];
    const point = c.IG_P * L * P + 4 * L * (8 * T * I + 20 * T * d);
    const batch = Math.max(1, Math.min(16, run.igSteps + 2, Math.floor(c.IG_BUDGET / (point + 4 * P))));
    // Rule 4: when not even one point fits the IG budget, points go one at a time through the rows' checkpointed
    // passes (compute.ts), which hold what a run of rows holds.
    const checkpointedIg = point + 4 * P > c.IG_BUDGET;
    const igStage: MemoryPart[] = checkpointedIg
      ? [{ name: 'sessions and derivative build', bytes: F + (c.ROWS_F - 1) * W }, ...rowRuns, { name: 'integrated-gradient sums', bytes: 12 * T * d }]
      : [
          { name: 'sessions and derivative build', bytes: F + (c.IG_F - 1) * W },
          { name: `integrated-gradient path points (${batch} per run)`, bytes: batch * point },
        ];
    const total = (list: MemoryPart[]) => list.reduce((sum, part) => sum + part.bytes, 0);
    const larger = !wantsIg || (rowMethods && total(rowStage) >= total(igStage)) ? rowStage : igStage;
    parts.push(...larger);
    // Both programs stay open in one run: the other one's sessions come on top.
    if (rowMethods && wantsIg) parts.push({ name: 'the other gradient program', bytes: 2 * W });
    stages.push({ stage: 'gradients', parts });
  }
  // Forward-only methods (logit lens, occlusion, faithfulness, value zeroing): ./memory-estimate-forward.
  const forwardOnly = forwardMethodStages({ T, A, L, d, I, V, F, W, P }, run, c);
  stages.push(...forwardOnly.stages);
  const sum = (parts: MemoryPart[]) => parts.reduce((total, part) => total + part.bytes, 0);
  const top = stages.reduce((best, next) => (sum(next.parts) > sum(best.parts) ? next : best), { stage: 'generate', parts: [] });
  const parts = [{ name: 'runtime', bytes: c.RUNTIME }, ...top.parts].filter((part) => part.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  return { peakBytes: Math.round(sum(parts)), stage: top.stage, parts: parts.map((part) => ({ ...part, bytes: Math.round(part.bytes) })), batches: forwardOnly.batches };
}

/** "1.5 GB" (decimal units, one decimal under 10). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 && unit > 0 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * Parses a size such as "8G", "8GB", "512M", "1.5 GiB" or a plain byte count; undefined when it is not one.
 * Example: `parseByteSize('8G')` → 8e9; `parseByteSize('512MiB')` → 536870912.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(text);
  if (!match) return undefined;
  const power = ' kmgt'.indexOf(match[2].toLowerCase() || ' ');
  const base = match[3] ? 1024 : 1000;
  const bytes = Number(match[1]) * base ** power;
  return Number.isFinite(bytes) && bytes > 0 ? Math.round(bytes) : undefined;
}

/**
 * Resident bytes of sessions a process keeps open between runs (main/engine/warm-sessions.ts), by the rule above:
 * a plain or attention-instrumented session holds its own copy of the weights (SESSION·F); a gradient program holds
 * forward and reverse sessions over float32 weights (2·W) per shape it has run.
 *
 * Example: a 1 MB fp32 model → plain 1.6 MB, attention 1.6 MB, gradients with 2 shapes 8 MB.
 */
export function warmSessionBytes(model: Pick<ModelDimensions, 'fileBytes' | 'weightBytes'>, kind: 'plain' | 'attention' | 'gradients', shapes = 1): number {
  const F = model.fileBytes;
  const W = (F * 4) / Math.max(0.25, model.weightBytes);
  return Math.round(kind === 'gradients' ? 2 * W * Math.max(1, shapes) : MEMORY_COEFFICIENTS.SESSION * F);
}
