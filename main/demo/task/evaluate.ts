// Evaluation of the demo model on held-out prompts, through the app's own engine: the folder is opened with
// loadModelFolder, prompts go through the chat template (buildTokenSequence), answers come from generate()
// (greedy), attention from computeAttention and gradients from computeGradients.
//
// Faithfulness (issue 7): the answer is copied from one data line, so a faithful explanation of the whole
// answer should give that line the largest share among the data lines. A line's share is the sum over its
// tokens of the per-token attribution (absolute values for the signed methods: gradient × input and
// integrated gradients). Answer-level attributions: attention rows averaged over the answer rows; saliency
// and gradient × input of the summed answer log-probability (`sequence`); integrated gradients' attributions;
// occlusion's `sequence` (signed, summed as it is, like the attention methods); attention norm and value zeroing
// (issue 16) as their mean over layers (and heads), answer rows averaged like attention.
import { join } from 'node:path';
import { computeAttention } from '../../engine/attention/compute';
import { computeGradients } from '../../engine/gradients/compute';
import { GradientProgram } from '../../engine/gradients/program';
import { generate } from '../../engine/generate';
import { loadModelFolder, type LoadedModel } from '../../engine/model-folder';
import { buildTokenSequence } from '../../engine/prompt';
import { encodeExample } from './batches';
import type { TaskExample } from './task';
import { DemoEncoder } from './tokenizer';
import { TargetForward } from '../../engine/methods/target-forward';
import { computeOcclusion } from '../../engine/methods/occlusion';
import { computeFaithfulness } from '../../engine/methods/faithfulness';
import { computeValueZeroing, valueZeroingGraphFile } from '../../engine/methods/value-zeroing';
import { createSession, type SessionHandle } from '../../engine/runtime';
import { layerMean } from '../../engine/explainers/value-zeroing-family';

export const ATTRIBUTION_METHODS = ['attention_rollout', 'attention_mean', 'best_head', 'attention_norm', 'saliency', 'grad_x_input', 'integrated_gradients', 'occlusion', 'value_zeroing'] as const;
/** Methods whose line share sums absolute values (signed attributions); the others sum the values as they are. */
const ABSOLUTE: ReadonlySet<AttributionMethod> = new Set(['grad_x_input', 'integrated_gradients']);
export type AttributionMethod = (typeof ATTRIBUTION_METHODS)[number];

/** Token ranges [start, end) of the data lines of a prompt (between [DATA] and [/DATA], newline-separated). */
export function dataLineRanges(ids: readonly number[], encoder: DemoEncoder = new DemoEncoder()): [number, number][] {
  const open = ids.indexOf(encoder.dataOpen);
  const close = ids.indexOf(encoder.dataClose, open + 1);
  if (open < 0 || close < 0) throw new Error('the prompt has no [DATA] … [/DATA] block');
  const ranges: [number, number][] = [];
  let start = -1;
  for (let i = open + 1; i < close; i++) {
    if (ids[i] === encoder.newline) {
      if (start >= 0) ranges.push([start, i]);
      start = -1;
    } else if (start < 0) start = i;
  }
  if (start >= 0) ranges.push([start, close]);
  return ranges;
}

/** Index of the line with the largest summed attribution (absolute values when `absolute`). */
export function topLine(attribution: ArrayLike<number>, lines: readonly [number, number][], absolute: boolean): number {
  let best = -1;
  let bestShare = -Infinity;
  lines.forEach(([start, end], index) => {
    let share = 0;
    for (let i = start; i < end; i++) share += absolute ? Math.abs(attribution[i]) : attribution[i];
    if (share > bestShare) (bestShare = share), (best = index);
  });
  return best;
}

/** Mean over rows of a [rows, cols] matrix. */
export function meanRows(matrix: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += matrix[r * cols + c] / rows;
  return out;
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ranks = (values: ArrayLike<number>) => {
    const order = Array.from(values, (v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
    const out = new Float64Array(order.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return out;
  };
  const x = ranks(a);
  const y = ranks(b);
  const mean = (v: Float64Array) => v.reduce((s, e) => s + e, 0) / v.length;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** The chat input of an example, as the app sends it: one user message (the model is trained without a system prompt). */
export function exampleInput(example: TaskExample) {
  return { task: 'chat' as const, messages: [{ role: 'user' as const, content: example.user }] };
}

/**
 * A deterministic sample of examples that fall into few sequence shapes (prompt + answer length): gradient
 * graphs are specialised per shape, so a sample in 3 shapes costs 3 graph builds per method instead of one
 * per prompt (what the tests use to stay fast). Picks the `shapes` most frequent shapes among `pool`,
 * `perShape` examples each, in pool order.
 */
export function fewShapeSample(pool: readonly TaskExample[], shapes: number, perShape: number, encoder = new DemoEncoder()): TaskExample[] {
  const groups = new Map<string, TaskExample[]>();
  for (const example of pool) {
    const encoded = encodeExample(encoder, example, null);
    const key = `${encoded.ids.length}|${encoded.ids.length - encoded.promptLength}`;
    groups.set(key, [...(groups.get(key) ?? []), example]);
  }
  const chosen = [...groups.values()].sort((a, b) => b.length - a.length).slice(0, shapes);
  return chosen.flatMap((group) => group.slice(0, perShape));
}

export interface AnswerCheck {
  correct: boolean;
  answer: string;
  /** Prompt ids (through the loaded tokenizer and chat template). */
  promptIds: number[];
}

/** Greedy answer of the loaded model, compared with the expected reply (exact text, then </s>). */
export async function checkAnswer(loaded: LoadedModel, example: TaskExample, maxNewTokens = 16): Promise<AnswerCheck> {
  const { ids: promptIds } = buildTokenSequence(loaded, exampleInput(example));
  const generated = await generate(loaded, loaded.session, promptIds, { maxNewTokens });
  const answer = loaded.tokenizer.decode(generated.ids, { skip_special_tokens: true });
  return { correct: generated.stopReason === 'eos' && answer.trim() === example.reply, answer, promptIds };
}

/** Greedy accuracy on examples. */
export async function answerAccuracy(folder: string, examples: readonly TaskExample[]): Promise<{ accuracy: number; wrong: { example: TaskExample; answer: string }[] }> {
  const loaded = await loadModelFolder(folder, { device: 'cpu' });
  try {
    const wrong: { example: TaskExample; answer: string }[] = [];
    for (const example of examples) {
      const check = await checkAnswer(loaded, example);
      if (!check.correct) wrong.push({ example, answer: check.answer });
    }
    return { accuracy: (examples.length - wrong.length) / examples.length, wrong };
  } finally {
    await loaded.release();
  }
}

/** Per-example attributions of every method, each as [col] over the whole sequence. */
export interface ExampleAttributions {
  ids: number[];
  promptLength: number;
  lines: [number, number][];
  asked: number;
  rollout: Float64Array;
  mean: Float64Array;
  /** [layer·heads + head][col]. */
  heads: Float64Array[];
  /** Attention norm (Kobayashi et al. 2020), mean over layers and heads, rows averaged (issue 16). */
  attentionNorm: Float64Array;
  saliency: Float32Array;
  gradXInput: Float32Array;
  integratedGradients: Float32Array;
  /** Occlusion of the summed answer log-probability with the zero baseline (issue 16), [col]. */
  occlusion: Float64Array;
  /** Value zeroing (Mohebbi et al. 2023), mean over layers, rows averaged (issue 16); empty when gradients are off. */
  valueZeroing: Float64Array;
  /** Deletion and insertion AOPC per method and for the random control (issue 16), when asked for. */
  aopc?: Record<string, { deletion: number; insertion: number }>;
}

export interface AttributionContext {
  loaded: LoadedModel;
  program: GradientProgram;
  /** Batched forwards over edited embeddings (occlusion, faithfulness curves). */
  forward: TargetForward;
  /** The value-zeroing graph's session, open for every example. */
  valueZeroing: SessionHandle;
  cacheDir: string;
  encoder: DemoEncoder;
}

export async function openAttributionContext(folder: string, cacheDir: string): Promise<AttributionContext> {
  const loaded = await loadModelFolder(folder, { device: 'cpu' });
  const program = await GradientProgram.open({ model: loaded.onnxPath, cacheDir });
  const forward = await TargetForward.open(program, 'cpu', cacheDir);
  const valueZeroing = await createSession(await valueZeroingGraphFile({ modelPath: loaded.onnxPath, modelSha256: loaded.onnxSha256, cacheDir: join(cacheDir, 'value-zeroing') }), 'cpu');
  return { loaded, program, forward, valueZeroing, cacheDir, encoder: new DemoEncoder() };
}

export async function closeAttributionContext(context: AttributionContext): Promise<void> {
  await context.forward.release();
  await context.valueZeroing.release();
  await context.program.release();
  await context.loaded.release();
}

/** The teacher-forced sequence of an example: prompt, the expected reply, </s>. */
export function teacherForced(context: AttributionContext, example: TaskExample): { ids: number[]; promptLength: number } {
  const sequence = buildTokenSequence(context.loaded, exampleInput(example), ` ${example.reply}`);
  return { ids: [...sequence.ids, context.encoder.eos], promptLength: sequence.promptLength };
}

/** Every method's answer-level attribution for one example (attention and, unless turned off, gradients from the engine). */
export async function exampleAttributions(
  context: AttributionContext,
  example: TaskExample,
  /** gradients: false skips gradients and occlusion (attention only); faithfulness: AOPC of every method (bestHead: which head's row). */
  options: { gradients?: boolean; faithfulness?: boolean; bestHead?: number } = {},
): Promise<ExampleAttributions> {
  const { ids, promptLength } = teacherForced(context, example);
  const lines = dataLineRanges(ids, context.encoder);
  if (lines.length !== example.facts.length) throw new Error(`found ${lines.length} data lines for ${example.facts.length} facts`);
  const attention = await computeAttention({
    modelPath: context.loaded.onnxPath,
    modelSha256: context.loaded.onnxSha256,
    config: context.loaded.config,
    ids,
    promptLength,
    rows: 'answer',
    cacheDir: join(context.cacheDir, 'attention'),
    device: 'cpu',
    attentionNorm: true,
  });
  const rows = attention.rowPositions.length;
  const cols = attention.seqLen;
  const heads: Float64Array[] = [];
  for (let layer = 0; layer < attention.layers; layer++) {
    for (let head = 0; head < attention.heads; head++) {
      const offset = (layer * attention.heads + head) * rows * cols;
      heads.push(meanRows(attention.data.subarray(offset, offset + rows * cols), rows, cols));
    }
  }
  const empty = new Float32Array(0);
  const gradients = options.gradients === false ? undefined : await computeGradients({
    program: context.program,
    ids,
    promptLength,
    methods: ['saliency', 'grad_x_input', 'integrated_gradients'],
    config: { padTokenId: context.encoder.pad },
  });
  const input = context.program.embedIds(ids);
  const zero = new Float32Array(context.program.hiddenSize);
  const occlusion = options.gradients === false ? undefined : await computeOcclusion({ forward: context.forward, input, baseline: zero, baselineName: 'zero', ids, promptLength });
  const valueZeroing = options.gradients === false ? undefined : await computeValueZeroing({
    modelPath: context.loaded.onnxPath,
    ids,
    promptLength,
    cacheDir: join(context.cacheDir, 'value-zeroing'),
    layers: context.loaded.config.numLayers,
    session: context.valueZeroing,
  });
  const result: ExampleAttributions = {
    ids,
    promptLength,
    lines,
    asked: example.asked,
    rollout: meanRows(attention.rollout, rows, cols),
    mean: meanRows(attention.mean, rows, cols),
    heads,
    attentionNorm: meanRows(attention.norm!.mean, rows, cols),
    saliency: gradients?.sequence.saliency ?? empty,
    gradXInput: gradients?.sequence.gradXInput ?? empty,
    integratedGradients: gradients?.integratedGradients?.attributions ?? empty,
    occlusion: Float64Array.from(occlusion?.sequence ?? []),
    valueZeroing: valueZeroing ? meanRows(layerMean(valueZeroing), rows, cols) : new Float64Array(0),
  };
  if (options.faithfulness) {
    // Positions ordered as the hit rate reads them: absolute values for the signed gradient methods.
    const values = methodValues(result, options.bestHead);
    const attributions = Object.fromEntries(Object.entries(values).map(([method, v]) => [method, Array.from(v, (x) => (ABSOLUTE.has(method as AttributionMethod) ? Math.abs(x) : x))]));
    const { curves } = await computeFaithfulness({ forward: context.forward, input, baseline: zero, ids, promptLength, attributions });
    result.aopc = Object.fromEntries(Object.entries(curves).map(([method, curve]) => [method, { deletion: curve.aopcDeletion, insertion: curve.aopcInsertion }]));
  }
  return result;
}

/** Each method's answer-level attribution of an example (best_head only when a head is given). */
function methodValues(a: ExampleAttributions, bestHead?: number): Partial<Record<AttributionMethod, ArrayLike<number>>> {
  const values: Partial<Record<AttributionMethod, ArrayLike<number>>> = {
    attention_rollout: a.rollout,
    attention_mean: a.mean,
    attention_norm: a.attentionNorm,
    saliency: a.saliency,
    grad_x_input: a.gradXInput,
    integrated_gradients: a.integratedGradients,
    occlusion: a.occlusion,
    value_zeroing: a.valueZeroing,
  };
  if (bestHead !== undefined) values.best_head = a.heads[bestHead];
  return values;
}

/** Mean deletion and insertion AOPC per method over the examples that have them. */
export function meanAopc(examples: readonly ExampleAttributions[]): Record<string, { deletion: number; insertion: number }> {
  const sums = new Map<string, { deletion: number; insertion: number; count: number }>();
  for (const a of examples) {
    for (const [method, value] of Object.entries(a.aopc ?? {})) {
      const entry = sums.get(method) ?? { deletion: 0, insertion: 0, count: 0 };
      entry.deletion += value.deletion;
      entry.insertion += value.insertion;
      entry.count++;
      sums.set(method, entry);
    }
  }
  return Object.fromEntries([...sums].map(([method, { deletion, insertion, count }]) => [method, { deletion: deletion / count, insertion: insertion / count }]));
}

/** Whether each method's top data line is the asked one (best_head left out: it needs a chosen head). */
export function methodHits(a: ExampleAttributions, bestHead?: number): Partial<Record<AttributionMethod, boolean>> {
  const hit = (values: ArrayLike<number>, absolute: boolean) => topLine(values, a.lines, absolute) === a.asked;
  const hits: Partial<Record<AttributionMethod, boolean>> = {};
  for (const [method, values] of Object.entries(methodValues(a, bestHead)) as [AttributionMethod, ArrayLike<number>][]) {
    if (values.length > 0) hits[method] = hit(values, ABSOLUTE.has(method));
  }
  return hits;
}

/** The head whose answer-level attention hits the asked line most often (ties: the first). */
export function chooseBestHead(examples: readonly ExampleAttributions[]): { head: number; hitRate: number } {
  const count = examples[0]?.heads.length ?? 0;
  let head = 0;
  let best = -1;
  for (let h = 0; h < count; h++) {
    const hits = examples.filter((a) => topLine(a.heads[h], a.lines, false) === a.asked).length;
    if (hits > best) (best = hits), (head = h);
  }
  return { head, hitRate: examples.length ? best / examples.length : 0 };
}

/** Hit rate per method over examples. */
export function hitRates(examples: readonly ExampleAttributions[], bestHead: number): Record<AttributionMethod, number> {
  const totals = Object.fromEntries(ATTRIBUTION_METHODS.map((m) => [m, 0])) as Record<AttributionMethod, number>;
  for (const a of examples) {
    const hits = methodHits(a, bestHead);
    for (const method of ATTRIBUTION_METHODS) if (hits[method]) totals[method]++;
  }
  for (const method of ATTRIBUTION_METHODS) totals[method] = examples.length ? totals[method] / examples.length : 0;
  return totals;
}

/**
 * Adebayo et al. 2018 model-randomisation check: saliency (of the summed answer log-probability) over the
 * prompt positions from the trained model and from a re-initialised one, compared by Spearman correlation.
 */
export async function randomizedRankCorrelation(
  trained: readonly ExampleAttributions[],
  randomModel: Uint8Array,
  cacheDir: string,
): Promise<{ mean: number; values: number[] }> {
  const program = await GradientProgram.open({ model: randomModel, cacheDir });
  try {
    const values: number[] = [];
    for (const a of trained) {
      const random = await computeGradients({ program, ids: a.ids, promptLength: a.promptLength, methods: ['saliency'] });
      values.push(spearman(a.saliency.subarray(0, a.promptLength), random.sequence.saliency!.subarray(0, a.promptLength)));
    }
    return { mean: values.reduce((s, v) => s + v, 0) / Math.max(1, values.length), values };
  } finally {
    await program.release();
  }
}
