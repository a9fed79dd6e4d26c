// Per-token values of one explanation method, read from a run: what the token chips, the answer × input
// heatmap and the legends show. Pure functions over the run JSON (no DOM, no Node), so the app's views, a
// static report, the terminal view of the CLI and the unit tests all read explanations the same way.
import { finiteRange } from './color-scale';
import type { IntegratedGradientsJson, RunJson } from './run';

/** The methods a view can colour tokens by; attention splits into its two aggregations. */
export const VIEW_METHODS = ['attention_mean', 'attention_rollout', 'attention_norm', 'value_zeroing', 'saliency', 'grad_x_input', 'integrated_gradients'] as const;
export type ViewMethod = (typeof VIEW_METHODS)[number];

/** Human labels for the view methods. */
export const VIEW_METHOD_LABELS: Readonly<Record<ViewMethod, string>> = Object.freeze({
  attention_mean: 'Attention (mean over layers and heads)',
  attention_rollout: 'Attention rollout',
  attention_norm: 'Attention norm (mean over layers and heads)',
  value_zeroing: 'Value zeroing (mean over layers)',
  saliency: 'Saliency',
  grad_x_input: 'Gradient × input',
  integrated_gradients: 'Integrated gradients',
});

/** Whether a method's values are signed (diverging colour scale) or non-negative (sequential). */
export const SIGNED_METHODS: ReadonlySet<ViewMethod> = new Set<ViewMethod>(['grad_x_input', 'integrated_gradients']);

/** One answer token (index into the answer) or the whole answer. */
export type AnswerFocus = number | 'sequence';

/** Values per token position (prompt and answer); null where the method says nothing about a position. */
export interface TokenValues {
  values: (number | null)[];
  signed: boolean;
  /** Why values are missing or shown for another focus, e.g. IG only explains the whole answer. */
  note?: string;
}

/** The view methods this run holds data for, in display order. */
export function availableViewMethods(run: RunJson): ViewMethod[] {
  const available: ViewMethod[] = [];
  if (run.attention?.mean?.length) available.push('attention_mean');
  if (run.attention?.rollout?.length) available.push('attention_rollout');
  if (run.attentionNorm?.mean?.length) available.push('attention_norm');
  if (run.valueZeroing?.mean?.length) available.push('value_zeroing');
  if (run.gradient?.saliency?.length || run.gradient?.sequence?.saliency?.length) available.push('saliency');
  if (run.gradient?.gradXInput?.length || run.gradient?.sequence?.gradXInput?.length) available.push('grad_x_input');
  if (run.integratedGradients?.attributions?.length) available.push('integrated_gradients');
  return available;
}

/** Number of answer tokens of a run. */
export function answerLength(run: RunJson): number {
  return Math.max(0, run.tokens.ids.length - run.promptLength);
}

/**
 * The row of an answer-row matrix (attention or gradient, rows = answer tokens) for answer token `index`.
 * Matrices over all rows ('all') are indexed by the position that predicts the token: promptLength + index - 1.
 */
export function matrixRow(matrix: number[][] | undefined, run: RunJson, index: number, rows: 'answer' | 'all' = 'answer'): number[] | undefined {
  if (!matrix) return undefined;
  return rows === 'all' ? matrix[run.promptLength + index - 1] : matrix[index];
}

/** Pads or trims a list to the sequence length, with null for positions it does not cover. */
function fitToSequence(values: readonly number[] | undefined, length: number, limit = length): (number | null)[] {
  const fitted: (number | null)[] = new Array(length).fill(null);
  if (!values) return fitted;
  for (let position = 0; position < Math.min(length, values.length, limit); position++) {
    const value = values[position];
    fitted[position] = Number.isFinite(value) ? value : null;
  }
  return fitted;
}

/** Averages answer rows column by column, each row only over the columns it covers (causal prefix). */
function meanOfRows(rows: (number | null)[][], length: number): (number | null)[] {
  const sums = new Array<number>(length).fill(0);
  const counts = new Array<number>(length).fill(0);
  for (const row of rows) {
    row.forEach((value, position) => {
      if (value === null) return;
      sums[position] += value;
      counts[position] += 1;
    });
  }
  return sums.map((sum, position) => (counts[position] ? sum / counts[position] : null));
}

/**
 * The full answer × position matrix of a method: row t holds the values that explain answer token t over
 * every position (null at and after the token itself, which cannot influence it). Integrated gradients
 * explain only the whole answer and have no per-token rows (empty list).
 */
export function answerMatrix(run: RunJson, method: ViewMethod): (number | null)[][] {
  const length = run.tokens.ids.length;
  const rows: (number | null)[][] = [];
  const count = answerLength(run);
  for (let index = 0; index < count; index++) {
    const limit = run.promptLength + index;
    let source: number[] | undefined;
    if (method === 'attention_mean') source = matrixRow(run.attention?.mean, run, index, run.attention?.rows);
    else if (method === 'attention_rollout') source = matrixRow(run.attention?.rollout, run, index, run.attention?.rows);
    else if (method === 'attention_norm') source = matrixRow(run.attentionNorm?.mean, run, index, run.attentionNorm?.rows);
    else if (method === 'value_zeroing') source = run.valueZeroing?.mean?.[index];
    else if (method === 'saliency') source = run.gradient?.saliency?.[index];
    else if (method === 'grad_x_input') source = run.gradient?.gradXInput?.[index];
    else return [];
    rows.push(fitToSequence(source, length, limit));
  }
  return rows;
}

/**
 * Values per position for a method and a focus. For one answer token: the row that explains that token.
 * For the whole answer: the method's sequence-level values when the run stores them, else the mean of the
 * per-token rows.
 * @example tokenValues(run, 'saliency', 0).values // [0.12, 0.4, …, null, null] (null from the token on)
 */
export function tokenValues(run: RunJson, method: ViewMethod, focus: AnswerFocus): TokenValues {
  const length = run.tokens.ids.length;
  const signed = SIGNED_METHODS.has(method);
  if (method === 'integrated_gradients') {
    const values = fitToSequence(run.integratedGradients?.attributions, length);
    const note = focus === 'sequence' ? undefined : 'Integrated gradients explain the whole answer; showing those values.';
    return { values, signed, note };
  }
  if (focus !== 'sequence') {
    const row = answerMatrix(run, method)[focus];
    return row ? { values: row, signed } : { values: new Array(length).fill(null), signed, note: 'No values for this token.' };
  }
  const stored =
    method === 'saliency'
      ? run.gradient?.sequence?.saliency
      : method === 'grad_x_input'
        ? run.gradient?.sequence?.gradXInput
        : undefined;
  if (stored?.length) return { values: fitToSequence(stored, length), signed };
  return { values: meanOfRows(answerMatrix(run, method), length), signed };
}

/**
 * The colour range for values of a method: signed values span their own [min, max] (the diverging scale
 * centres it on zero); non-negative ones start at 0 so that a uniform row does not look saturated.
 * @example valueRange([0.2, null, 0.5], false) // [0, 0.5]
 */
export function valueRange(values: Iterable<number | null>, signed: boolean): [number, number] {
  const [min, max] = finiteRange(values);
  return signed ? [min, max] : [Math.min(0, min), max];
}

/** Text of a token for display: whitespace made visible so chips of spaces and newlines stay readable. */
export function displayToken(text: string): string {
  if (text === '') return '∅';
  return text.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/^ +| +$/g, (spaces) => '·'.repeat(spaces.length));
}

/**
 * One line on how integrated gradients were computed and how complete they are.
 * @example integratedGradientsSummary({steps: 32, rule: 'gauss-legendre', spacing: 'uniform', baseline: 'pad', delta: 1.5, completenessError: 0.001, …})
 * // 'Integrated gradients: 32 steps, gauss-legendre rule (uniform spacing), pad baseline. f(input) − f(baseline) = 1.5; the attributions sum to it within 0.10%.'
 */
export function integratedGradientsSummary(ig: IntegratedGradientsJson): string {
  const spacing = ig.spacing ? ` (${ig.spacing} spacing${ig.spacingDefaulted ? `, the ${ig.baseline} baseline's default` : ''})` : '';
  return (
    `Integrated gradients: ${ig.steps} steps, ${ig.rule} rule${spacing}, ${ig.baseline} baseline. ` +
    `f(input) − f(baseline) = ${Number(ig.delta.toPrecision(4))}; the attributions sum to it within ${(100 * ig.completenessError).toFixed(2)}%.`
  );
}
