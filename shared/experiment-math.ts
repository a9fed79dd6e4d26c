// Pure aggregation across the runs of an experiment: attribution mass per prompt position, shares per prompt
// segment, per-head attention to a segment, means with the runs behind them, top tokens by text.
// No I/O here: main/experiments/aggregate.ts reads the store and feeds these functions; tests recompute the
// same numbers naively from the stored tensors.
import { AGGREGATE_ATTRIBUTIONS, type AttributionId } from './method-catalog';
import type { FaithfulnessRank } from './faithfulness-math';

/** Token positions [start, end) of a sequence, end exclusive. */
export type TokenRange = readonly [number, number];

/**
 * A named part of a run's prompt, as token positions. `kind` "auto" segments come from the run's input
 * (system, user, data, question, template); "marked" ones from the user's dataset (they win over an automatic
 * segment of the same name).
 */
export interface PromptSegment {
  name: string;
  kind: 'auto' | 'marked';
  ranges: TokenRange[];
}

/** Every position covered by a segment, ascending, without repeats. */
export function segmentPositions(segment: Pick<PromptSegment, 'ranges'>, length = Infinity): number[] {
  const positions = new Set<number>();
  for (const [start, end] of segment.ranges) {
    for (let i = Math.max(0, start); i < Math.min(end, length); i++) positions.add(i);
  }
  return [...positions].sort((a, b) => a - b);
}

/**
 * Attribution mass of each prompt position (length `promptLength`), the input to every share below.
 * A vector [col] gives |v[col]|; a matrix [row, col] gives Σ over the kept rows of |v[row, col]| (absolute
 * values, because grad×input and IG are signed and a share of signed sums is meaningless).
 *
 * @example attributionMass([1, -3, 2, 9], [2, 2], 2) // → Float64Array [3, 5]
 */
export function attributionMass(
  values: ArrayLike<number>,
  shape: readonly number[],
  promptLength: number,
  keepRow?: (row: number) => boolean,
): Float64Array {
  const cols = shape[shape.length - 1] ?? 0;
  const rows = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const width = Math.min(promptLength, cols);
  const mass = new Float64Array(promptLength);
  for (let row = 0; row < rows; row++) {
    if (shape.length >= 2 && keepRow && !keepRow(row)) continue;
    const offset = row * cols;
    for (let col = 0; col < width; col++) mass[col] += Math.abs(values[offset + col]);
  }
  return mass;
}

/** Mass divided by its sum (all zeros stay zeros). */
export function normalize(mass: ArrayLike<number>): Float64Array {
  let total = 0;
  for (let i = 0; i < mass.length; i++) total += mass[i];
  const out = new Float64Array(mass.length);
  if (total > 0) for (let i = 0; i < mass.length; i++) out[i] = mass[i] / total;
  return out;
}

/**
 * The share of a run's prompt attribution that falls on each segment: Σ mass over the segment's positions
 * / Σ mass over the whole prompt. Segments may overlap, so shares need not add up to 1.
 *
 * @example segmentShares([1, 1, 2], [{name: 'data', kind: 'auto', ranges: [[1, 3]]}]) // → {data: 0.75}
 */
export function segmentShares(mass: ArrayLike<number>, segments: readonly PromptSegment[]): Record<string, number> {
  const shares = normalize(mass);
  const out: Record<string, number> = {};
  for (const segment of segments) {
    let sum = 0;
    for (const position of segmentPositions(segment, shares.length)) sum += shares[position];
    out[segment.name] = sum;
  }
  return out;
}

/** One token of a run with its share of the run's prompt attribution. */
export interface TokenShare {
  position: number;
  text: string;
  share: number;
}

/** The k prompt tokens with the largest share, largest first (ties: earlier position first). */
export function topTokenShares(mass: ArrayLike<number>, texts: readonly string[], k: number): TokenShare[] {
  const shares = normalize(mass);
  return Array.from(shares, (share, position) => ({ position, text: texts[position] ?? '', share }))
    .sort((a, b) => b.share - a.share || a.position - b.position)
    .slice(0, Math.max(0, k));
}

/** A token text's attribution across runs. */
export interface TokenTotal {
  /** Token text with surrounding white space removed (so " Paris" and "Paris" count together). */
  text: string;
  /** Mean over all runs of the token's share of that run's prompt attribution (0 in runs without it). */
  meanShare: number;
  /** Runs whose prompt holds the token. */
  runCount: number;
  /** Occurrences over all runs. */
  occurrences: number;
  runIds: string[];
}

/**
 * The token texts that receive the most attribution overall: each run's prompt mass is normalised to sum 1
 * (so long prompts and large-gradient models weigh the same as others), shares of equal texts add up within a
 * run, and the result is averaged over all runs given. White-space-only tokens are left out.
 *
 * @example topTokensOverall([{runId: 'a', texts: ['x', ' y'], mass: [1, 3]}, {runId: 'b', texts: ['y'], mass: [2]}], 5)
 * // → [{text: 'y', meanShare: 0.875, runCount: 2, occurrences: 2, runIds: ['a', 'b']}, {text: 'x', meanShare: 0.125, …}]
 */
export function topTokensOverall(
  runs: readonly { runId: string; texts: readonly string[]; mass: ArrayLike<number> }[],
  limit: number,
): TokenTotal[] {
  const totals = new Map<string, { sum: number; occurrences: number; runIds: string[] }>();
  for (const run of runs) {
    const shares = normalize(run.mass);
    const seen = new Set<string>();
    for (let i = 0; i < shares.length; i++) {
      const text = (run.texts[i] ?? '').trim();
      if (text === '') continue;
      const total = totals.get(text) ?? { sum: 0, occurrences: 0, runIds: [] };
      total.sum += shares[i];
      total.occurrences++;
      if (!seen.has(text)) total.runIds.push(run.runId);
      seen.add(text);
      totals.set(text, total);
    }
  }
  const count = Math.max(1, runs.length);
  return [...totals.entries()]
    .map(([text, total]) => ({ text, meanShare: total.sum / count, runCount: total.runIds.length, occurrences: total.occurrences, runIds: total.runIds }))
    .sort((a, b) => b.meanShare - a.meanShare || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
    .slice(0, Math.max(0, limit));
}

/**
 * Per head, the mean over the kept rows of the attention weight that falls on a set of key positions.
 * `data` holds one layer: [head, row, col].
 *
 * @example headAttentionTo(new Float32Array([0.5, 0.5, 1, 0]), 1, 2, 2, [0]) // one head, rows [.5 .5] and [1 0] → [0.75]
 */
export function headAttentionTo(
  data: ArrayLike<number>,
  heads: number,
  rows: number,
  cols: number,
  positions: readonly number[],
  keepRow: (row: number) => boolean = () => true,
): Float64Array {
  const out = new Float64Array(heads);
  for (let head = 0; head < heads; head++) {
    let sum = 0;
    let kept = 0;
    for (let row = 0; row < rows; row++) {
      if (!keepRow(row)) continue;
      kept++;
      const offset = (head * rows + row) * cols;
      for (const col of positions) if (col < cols) sum += data[offset + col];
    }
    out[head] = kept > 0 ? sum / kept : NaN;
  }
  return out;
}

/** A mean over runs, with the runs behind it (drill-down). */
export interface MeanCell {
  /** Mean over the runs that have a value here; null when none has. */
  mean: number | null;
  runIds: string[];
}

/**
 * Cell-wise means of per-run [layer][head] grids that may differ in size (runs of different models): the result
 * is as large as the largest grid, and each cell averages only the runs that have a finite value there.
 *
 * @example meanGrid([{runId: 'a', grid: [[1, 2]]}, {runId: 'b', grid: [[3]]}])
 * // → [[{mean: 2, runIds: ['a', 'b']}, {mean: 2, runIds: ['a']}]]
 */
export function meanGrid(runs: readonly { runId: string; grid: readonly (readonly number[])[] }[]): MeanCell[][] {
  const layers = Math.max(0, ...runs.map((run) => run.grid.length));
  const heads = Math.max(0, ...runs.map((run) => Math.max(0, ...run.grid.map((row) => row.length))));
  return Array.from({ length: layers }, (_, layer) =>
    Array.from({ length: heads }, (_, head) => {
      const cell = { sum: 0, runIds: [] as string[] };
      for (const run of runs) {
        const value = run.grid[layer]?.[head];
        if (value === undefined || !Number.isFinite(value)) continue;
        cell.sum += value;
        cell.runIds.push(run.runId);
      }
      return { mean: cell.runIds.length > 0 ? cell.sum / cell.runIds.length : null, runIds: cell.runIds };
    }),
  );
}

/** Mean of the finite values of per-run numbers, with the runs that had one. */
export function meanOver(values: readonly { runId: string; value: number | null | undefined }[]): MeanCell {
  const kept = values.filter((v): v is { runId: string; value: number } => typeof v.value === 'number' && Number.isFinite(v.value));
  return { mean: kept.length > 0 ? kept.reduce((sum, v) => sum + v.value, 0) / kept.length : null, runIds: kept.map((v) => v.runId) };
}

/** Mean of every finite entry of a [layer][head] grid; null when it has none. */
export function gridMean(grid: readonly (readonly number[])[] | undefined): number | null {
  if (!grid) return null;
  let sum = 0;
  let count = 0;
  for (const row of grid) for (const value of row) if (Number.isFinite(value)) (sum += value), count++;
  return count > 0 ? sum / count : null;
}

/**
 * Whether two answers differ, compared as text with white space collapsed and trimmed (runs of different
 * models have different token ids for the same words).
 */
export function answerChanged(answer: string, reference: string): boolean {
  const clean = (text: string) => text.replace(/\s+/g, ' ').trim();
  return clean(answer) !== clean(reference);
}

// ---------------------------------------------------------------------------------------------------------
// Result types of main/experiments (plain JSON, for the API and the views)

/** Attribution methods whose per-position mass can be aggregated, in the order views list them (the catalog's). */
export const ATTRIBUTION_METHODS: readonly AttributionId[] = AGGREGATE_ATTRIBUTIONS;
export type AttributionMethod = AttributionId;

/** Per-head statistics averaged in the experiment grid; `segment` is attention to the chosen segment. */
export const HEAD_STATISTICS = ['segment', 'entropy', 'firstToken', 'previousToken', 'maxWeight'] as const;
export type HeadStatistic = (typeof HEAD_STATISTICS)[number];

/** A segment's share of prompt attribution for one method, over the runs that have both. */
export interface SegmentShareCell extends MeanCell {
  perRun: { runId: string; share: number }[];
}

/** Aggregates over the finished runs of an experiment. */
export interface ExperimentAggregate {
  experiment: string;
  /** Finished runs that went in, in run order. */
  runIds: string[];
  /** Models among them (grids of runs of different models are averaged cell by cell). */
  models: { name: string; path: string; runIds: string[] }[];
  /** Segment names found in any run (automatic and marked). */
  segments: string[];
  /** The segment the "segment" head statistic measures attention to (absent when no run has it). */
  headSegment?: string;
  /** [layer][head] means over runs, each cell with the runs behind it. */
  heads: Partial<Record<HeadStatistic, MeanCell[][]>>;
  /** method → segment → share. */
  segmentShares: Partial<Record<AttributionMethod, Record<string, SegmentShareCell>>>;
  /** method → top token texts. */
  topTokens: Partial<Record<AttributionMethod, TokenTotal[]>>;
  /** method → top prompt words (tokens grouped by the tokenizer's word boundaries, shares summed per word). */
  topWords?: Partial<Record<AttributionMethod, TokenTotal[]>>;
  /** Assisted generation pooled over the runs that used an assistant (absent when none did). */
  assistant?: AssistantAcceptance;
  /** Issue 16: attribution methods ranked by mean AOPC over the runs with faithfulness curves (absent when none has). */
  faithfulness?: FaithfulnessRank[];
}

/** Drafts accepted over several assisted runs: pooled (Σ accepted / Σ proposed), not a mean of rates. */
export interface AssistantAcceptance {
  runIds: string[];
  proposed: number;
  accepted: number;
  acceptanceRate: number;
}

/**
 * Pools the assistant records of runs; undefined when none has one.
 * @example pooledAcceptance([{runId: 'a', proposed: 10, accepted: 8}, {runId: 'b', proposed: 30, accepted: 12}])
 * // → {runIds: ['a', 'b'], proposed: 40, accepted: 20, acceptanceRate: 0.5}
 */
export function pooledAcceptance(records: readonly { runId: string; proposed: number; accepted: number }[]): AssistantAcceptance | undefined {
  if (records.length === 0) return undefined;
  const proposed = records.reduce((sum, record) => sum + record.proposed, 0);
  const accepted = records.reduce((sum, record) => sum + record.accepted, 0);
  return { runIds: records.map((record) => record.runId), proposed, accepted, acceptanceRate: proposed > 0 ? accepted / proposed : 0 };
}

/** The summary numbers of one run that the compare view and timelines show. */
export interface RunNumbers {
  runId: string;
  createdAt: string;
  modelName: string;
  modelPath: string;
  experiment: string;
  answerText: string;
  /** The run the answer is compared with (its source run, or the reference given). */
  referenceRunId?: string;
  answerChanged?: boolean;
  /** Method of topTokens and segmentShares (the first of ATTRIBUTION_METHODS the run has, unless chosen). */
  method?: AttributionMethod;
  topTokens: TokenShare[];
  /** The prompt words with the largest share (a word's share: the sum of its tokens'); position = its first token. */
  topWords?: TokenShare[];
  segmentShares: Record<string, number>;
  /** Mean of the per-head attention entropies (nats). */
  meanEntropy: number | null;
  /** Σ log p(answer token | prefix) from the gradient targets; null when not stored (see note). */
  answerLogProb: number | null;
  answerLogProbNote?: string;
  /** |Σ IG − (F(x) − F(baseline))| / |F(x) − F(baseline)|, as the run stored it. */
  igCompletenessError: number | null;
  igDelta: number | null;
  answerTokens: number;
  /** Share of the assistant's drafts the run's model accepted; null without assisted generation. */
  assistantAcceptance?: number | null;
}

/** Metrics a timeline can plot: a RunNumbers field, or `share:<method>:<segment>`. */
export const TIMELINE_METRICS = ['answerLogProb', 'meanEntropy', 'igCompletenessError', 'answerTokens', 'answerChanged', 'assistantAcceptance'] as const;

export interface TimelinePoint {
  runId: string;
  createdAt: string;
  modelName: string;
  value: number | null;
}

export interface TimelineSeries {
  experiment: string;
  metric: string;
  points: TimelinePoint[];
}
