// Statistics of one attention head over the answer rows: how spread out it is (entropy), how peaked
// (max weight), and how much it reads the first token (an "attention sink") or the previous token.
// The numbers come from shared/attention-math headStatistics, the computation the engine stores with every run
// (run.attention.headStats); this file adapts them to the head table's rows.
import { headStatistics as statisticsOfHeads } from '../../../shared/attention-math';
import type { HeadStatsJson } from '../../../shared/run';

/** One head's attention matrix (answer rows × all positions), row-major. */
export interface HeadMatrix {
  layer: number;
  head: number;
  rows: number;
  cols: number;
  data: ArrayLike<number>;
}

/** The rows of a head matrix as separate arrays. */
export function matrixRows(matrix: HeadMatrix): ArrayLike<number>[] {
  const rows: ArrayLike<number>[] = [];
  for (let row = 0; row < matrix.rows; row++) {
    rows.push(Array.prototype.slice.call(matrix.data, row * matrix.cols, (row + 1) * matrix.cols) as number[]);
  }
  return rows;
}

/** Largest weight of a head matrix (1 for an empty or all-zero one, so it can serve as a colour range). */
export function matrixMax(matrix: HeadMatrix): number {
  let max = 0;
  for (let index = 0; index < matrix.data.length; index++) if (matrix.data[index] > max) max = matrix.data[index];
  return max || 1;
}

/** Statistics of one head, each averaged over the rows (queries) it is given. */
export interface HeadStatistics {
  layer: number;
  head: number;
  /** Mean Shannon entropy of a row's weights, in nats. */
  entropy: number;
  /** Mean of each row's largest weight. */
  maxWeight: number;
  /** Mean weight on position 0. */
  firstTokenShare: number;
  /** Mean weight on the position just before the query. */
  previousTokenShare: number;
}

/**
 * The query position of an attention row under a causal mask: the last column with a non-zero weight.
 * Reading it from the data keeps the views independent of which position the engine used as each answer
 * token's query (the token itself or the one that predicts it).
 */
export function queryPosition(row: ArrayLike<number>): number {
  for (let position = row.length - 1; position >= 0; position--) {
    if (row[position] > 0) return position;
  }
  return 0;
}

/**
 * Statistics of one head's rows (each row a probability distribution over key positions), each row's query
 * position read from its causal zeros; no row past position 0 gives a previous-token share of 0.
 * @example headStatistics([[0.5, 0.5, 0]], 0, 0) // {entropy: 0.693…, maxWeight: 0.5, firstTokenShare: 0.5, previousTokenShare: 0.5, …}
 */
export function headStatistics(rows: ArrayLike<number>[], layer: number, head: number): HeadStatistics {
  const cols = rows[0]?.length ?? 0;
  const data = new Float64Array(rows.length * cols);
  rows.forEach((row, index) => data.set(Array.from(row), index * cols));
  const shape = { layers: 1, heads: 1, rows: rows.length, cols };
  const stats = statisticsOfHeads({ shape, data, rowPositions: rows.map(queryPosition) });
  return rows.length === 0
    ? { layer, head, entropy: 0, maxWeight: 0, firstTokenShare: 0, previousTokenShare: 0 }
    : statisticsRow(layer, head, stats.entropy[0], stats.maxWeight[0], stats.firstToken[0], stats.previousToken[0]);
}

function statisticsRow(layer: number, head: number, entropy: number, maxWeight: number, first: number, previous: number | null): HeadStatistics {
  // A head with no query past position 0 has no previous token (NaN, stored as null): the table shows 0.
  const finite = (value: number | null) => (value !== null && Number.isFinite(value) ? value : 0);
  return { layer, head, entropy: finite(entropy), maxWeight: finite(maxWeight), firstTokenShare: finite(first), previousTokenShare: finite(previous) };
}

/** The statistics the run stored ([layer][head] grids), as table rows, layer by layer. */
export function storedHeadStatistics(stored: HeadStatsJson): HeadStatistics[] {
  const statistics: HeadStatistics[] = [];
  stored.entropy.forEach((heads, layer) =>
    heads.forEach((entropy, head) =>
      statistics.push(statisticsRow(layer, head, entropy, stored.maxWeight[layer][head], stored.firstToken[layer][head], stored.previousToken[layer][head])),
    ),
  );
  return statistics;
}

/** Statistics of every head of a `[layer][head][row][col]` array, layer by layer. */
export function allHeadStatistics(data: ArrayLike<number>[][][]): HeadStatistics[] {
  const statistics: HeadStatistics[] = [];
  data.forEach((heads, layer) => heads.forEach((rows, head) => statistics.push(headStatistics(rows, layer, head))));
  return statistics;
}

/** The statistic columns of the head table: key, header, and whether larger values sort first by default. */
export const HEAD_STATISTIC_COLUMNS = [
  { key: 'entropy', label: 'Entropy (nats)' },
  { key: 'maxWeight', label: 'Max weight' },
  { key: 'firstTokenShare', label: 'First-token share' },
  { key: 'previousTokenShare', label: 'Previous-token share' },
] as const satisfies readonly { key: keyof HeadStatistics; label: string }[];
