// Peak memory of one run, estimated before anything heavy is loaded: from the model's dimensions, the token counts
// and the methods alone. The rule models what the engine allocates today (main/engine: pipeline, attention/compute,
// gradients/program, compute, passes) and was calibrated against the peak RSS of real CLI processes
// (test/integration/memory/estimate.test.ts, `npm run bench -- scale`; README "What fits").
//
// The rule (bytes; F = bytes of the ONNX file and its external data, W = F in float32, the weights the gradient
// programs hold; T = prompt + answer tokens; A = answer tokens; R = stored attention rows, A or T; L layers, H heads,
// d hidden, I intermediate, V vocabulary; P = 4·H·T², one layer's [heads, T, T] float32 probabilities):
//   runtime                    RUNTIME (Node, onnxruntime, tokenizer, SQLite)
//   plain session              SESSION · F, open for the whole run (generation, then kept until the end)
//   forward work               2·P + 4·(T·V + 3·T·I + 8·T·d): one layer's scores and probabilities, the full logits
//   attention stage            SESSION · F (instrumented graph) + forward work + stored rows 12·L·H·R·T (float32
//                              output and the JSON arrays of doubles)
//   gradient build             BUILD · W: the model read and prepared in JavaScript, the derivative graph encoded,
//                              the shape-probe session — every new (length, answer) shape builds its own graphs
//   gradient sessions          SESSION · W (forward pass) + SESSION · W (reverse pass, pre-packed)
//   saved forward tensors      L · (SAVED_P · P + 4·(3·T·I + 10·T·d)): every layer's probabilities stay alive for
//                              the reverse passes (causal row blocks keep 3/4 of them)
//   reverse pass of a chunk    max(80 MB, 4 · largest), largest = max(P, 4·T·I): the row-chunk budget of compute.ts
//   integrated gradients       combined session 2·W + batch · (activations + 4 · largest), activations =
//                              L · (ACTIVATION_P · P + 4·(8·T·I + 20·T·d)), batch = clamp(⌊1.5 GB / point⌋, 1, 16)
// Peak = runtime + plain session + the largest stage (attention, then gradients with the attention rows still held).
// Generation (KV cache) is small next to these and is covered by the forward work of the prompt.

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
  methods: readonly string[];
  attentionRows: 'answer' | 'all';
  igSteps: number;
  /** The raw gradient [row, col, hidden] is kept. */
  rawGradient?: boolean;
}

export interface MemoryPart {
  name: string;
  bytes: number;
}

export interface MemoryEstimate {
  /** Estimated peak resident memory of the process doing the run. */
  peakBytes: number;
  /** The stage at the peak. */
  stage: 'generate' | 'attention' | 'gradients';
  /** What the peak is made of, largest first. */
  parts: MemoryPart[];
}

/** Version of the rule, recorded with every run so that estimates can be compared with measured peaks later. */
export const MEMORY_RULE_VERSION = 1;

/** Calibrated coefficients (see the header); measured factors are in the README's "What fits". */
export const MEMORY_COEFFICIENTS = Object.freeze({
  RUNTIME: 220 * 2 ** 20,
  SESSION: 1.6,
  BUILD: 2.5,
  SAVED_P: 0.75,
  ACTIVATION_P: 2,
  ROW_BUDGET: 80e6,
  IG_BUDGET: 1.5e9,
});

const GRADIENT_METHODS = new Set(['saliency', 'grad_x_input', 'gradient', 'integrated_gradients']);

/**
 * Estimates the peak memory of one run.
 *
 * Example: the demo model (3 layers, 4 heads, hidden 64, intermediate 192, vocab 565, 984 KB fp32) with 400 + 32
 * tokens and attention, saliency → `{peakBytes: ≈ 0.36e9, stage: 'gradients', parts: [...]}`.
 */
export function estimatePeakMemory(model: ModelDimensions, run: RunShape): MemoryEstimate {
  const c = MEMORY_COEFFICIENTS;
  const T = run.promptLength + run.answerLength;
  const A = run.answerLength;
  const { layers: L, heads: H, hidden: d, intermediate: I, vocab: V } = model;
  const F = model.fileBytes;
  const W = (F * 4) / Math.max(0.25, model.weightBytes);
  const P = 4 * H * T * T;
  const forwardWork = 2 * P + 4 * (T * V + 3 * T * I + 8 * T * d);

  const shared: MemoryPart[] = [
    { name: 'runtime', bytes: c.RUNTIME },
    { name: 'plain session', bytes: c.SESSION * F },
  ];
  const stages: { stage: MemoryEstimate['stage']; parts: MemoryPart[] }[] = [
    { stage: 'generate', parts: [{ name: 'forward work', bytes: forwardWork }] },
  ];
  let attentionRows = 0;
  if (run.methods.includes('attention')) {
    const R = run.attentionRows === 'all' ? T : A;
    attentionRows = 12 * L * H * R * T;
    stages.push({
      stage: 'attention',
      parts: [
        { name: 'instrumented session', bytes: c.SESSION * F },
        { name: 'forward work', bytes: forwardWork },
        { name: 'attention rows', bytes: attentionRows },
      ],
    });
  }
  if (run.methods.some((m) => GRADIENT_METHODS.has(m))) {
    const largest = Math.max(P, 4 * T * I);
    const parts: MemoryPart[] = [
      { name: 'attention rows', bytes: attentionRows },
      { name: 'derivative build', bytes: c.BUILD * W },
    ];
    const rowMethods = run.methods.some((m) => m !== 'integrated_gradients' && GRADIENT_METHODS.has(m));
    let rowStage = 0;
    if (rowMethods) {
      rowStage =
        2 * c.SESSION * W +
        L * (c.SAVED_P * P + 4 * (3 * T * I + 10 * T * d)) +
        Math.max(c.ROW_BUDGET, 4 * largest) +
        4 * T * d * (run.rawGradient ? A + 2 : 2);
    }
    let igStage = 0;
    if (run.methods.includes('integrated_gradients')) {
      const point = L * (c.ACTIVATION_P * P + 4 * (8 * T * I + 20 * T * d)) + 4 * largest;
      const batch = Math.max(1, Math.min(16, Math.floor(c.IG_BUDGET / point), run.igSteps + 2));
      igStage = 2 * c.SESSION * W + batch * point;
    }
    // Row passes and integrated gradients run one after the other; the programs of both stay open.
    parts.push(
      rowStage >= igStage
        ? { name: 'gradient rows (sessions, saved tensors, reverse pass)', bytes: rowStage + (igStage > 0 ? 2 * c.SESSION * W : 0) }
        : { name: 'integrated gradients (sessions, path points)', bytes: igStage + (rowStage > 0 ? 2 * c.SESSION * W : 0) },
    );
    stages.push({ stage: 'gradients', parts });
  }
  const sum = (parts: MemoryPart[]) => parts.reduce((total, part) => total + part.bytes, 0);
  const top = stages.reduce((best, next) => (sum(next.parts) > sum(best.parts) ? next : best));
  const parts = [...shared, ...top.parts].filter((part) => part.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  return { peakBytes: Math.round(sum(parts)), stage: top.stage, parts: parts.map((part) => ({ ...part, bytes: Math.round(part.bytes) })) };
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
