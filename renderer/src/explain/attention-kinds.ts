// The attention kinds a run's page can show heads of: a decoder-only run has one (its attention), an
// encoder-decoder run three — decoder self-attention (attention.data), encoder self-attention (source × source)
// and cross-attention (answer × source). Each kind names its stored tensor, the run JSON's copy of its data
// (static reports may embed it), its stored head statistics and what its rows and columns are.
import type { HeadStatsJson, RunJson } from '../../../shared/run';
import { ATTENTION_NORM_TENSORS, ATTENTION_TENSORS, SEQ2SEQ_ATTENTION_TENSORS } from '../../../shared/tensor-names';
import { answerGroups, runGrouping, wordGrouping, type Group } from '../../../shared/word-view';

export type AttentionKind = 'decoder' | 'encoder' | 'cross' | 'norm';

export interface AttentionKindView {
  kind: AttentionKind;
  /** Shown on the kind switch and in titles. */
  label: string;
  /** The stored [layer, head, row, col] tensor; undefined = the run's main attention tensor, whatever its name. */
  tensorName?: string;
  /** The run JSON's nested [layer][head][row][col] data (empty unless embedded). */
  data: number[][][][];
  headStats?: HeadStatsJson;
  layers: number;
  heads: number;
  rowLabels: string[];
  colLabels: string[];
  rowAxis: string;
  colAxis: string;
  /** Keys after a row's query are masked (decoder self-attention), not zero attention. */
  causal: boolean;
  /** Whether "previous token" means anything for this kind's rows (not for cross-attention). */
  hasPreviousToken: boolean;
  /** Head statistics (entropy, …) read rows as distributions; attention-norm rows are not (false: no table). */
  hasStatistics?: boolean;
}

/**
 * Attention norm (Kobayashi et al. 2020) as one more kind: the same [layer, head, row, col] layout as attention, each
 * cell α · ‖f(x_j)‖ rather than a probability, so no head statistics.
 */
function normKind(run: RunJson): AttentionKindView | undefined {
  const norm = run.attentionNorm;
  if (!norm) return undefined;
  const tokens = run.tokens.text;
  return {
    kind: 'norm',
    label: 'Attention norm',
    tensorName: ATTENTION_NORM_TENSORS.data,
    data: norm.data ?? [],
    layers: norm.layers,
    heads: norm.heads,
    rowLabels: norm.rows === 'all' ? tokens : tokens.slice(run.promptLength),
    colLabels: tokens,
    rowAxis: norm.rows === 'all' ? 'query position' : 'answer token',
    colAxis: 'position',
    causal: true,
    hasPreviousToken: false,
    hasStatistics: false,
  };
}

/** The kinds of a run, decoder (or the only) attention first, attention norm last; [] without either. */
export function attentionKinds(run: RunJson): AttentionKindView[] {
  const norm = normKind(run);
  return [...probabilityKinds(run), ...(norm ? [norm] : [])];
}

function probabilityKinds(run: RunJson): AttentionKindView[] {
  const attention = run.attention;
  if (!attention) return [];
  const tokens = run.tokens.text;
  const answer = tokens.slice(run.promptLength);
  const source = run.source?.text ?? [];
  const rowTokens = attention.rows === 'all' ? tokens : answer;
  const main: AttentionKindView = {
    kind: 'decoder',
    label: run.source ? 'Decoder self-attention' : 'Attention',
    data: attention.data ?? [],
    headStats: attention.headStats,
    layers: attention.layers,
    heads: attention.heads,
    rowLabels: rowTokens,
    colLabels: tokens,
    rowAxis: attention.rows === 'all' ? 'query position' : 'answer token',
    colAxis: run.source ? 'decoder position' : 'position',
    causal: true,
    hasPreviousToken: true,
  };
  const kinds = [main];
  if (attention.encoder) {
    kinds.push({
      kind: 'encoder',
      label: 'Encoder self-attention',
      tensorName: SEQ2SEQ_ATTENTION_TENSORS.encoder,
      data: attention.encoder.data ?? [],
      headStats: attention.encoder.headStats,
      layers: attention.encoder.headStats?.entropy.length ?? attention.encoder.data.length,
      heads: attention.encoder.headStats?.entropy[0]?.length ?? attention.encoder.data[0]?.length ?? 0,
      rowLabels: source,
      colLabels: source,
      rowAxis: 'source token (query)',
      colAxis: 'source token (key)',
      causal: false,
      hasPreviousToken: true,
    });
  }
  if (attention.cross) {
    kinds.push({
      kind: 'cross',
      label: 'Cross-attention',
      tensorName: SEQ2SEQ_ATTENTION_TENSORS.cross,
      data: attention.cross.data ?? [],
      headStats: attention.cross.headStats,
      layers: attention.cross.headStats?.entropy.length ?? attention.cross.data.length ?? attention.layers,
      heads: attention.cross.headStats?.entropy[0]?.length ?? attention.cross.data[0]?.length ?? attention.heads,
      rowLabels: answer,
      colLabels: source,
      rowAxis: 'answer token',
      colAxis: 'source token',
      causal: false,
      hasPreviousToken: false,
    });
  }
  return kinds;
}

/** Tensor names that belong to a kind other than the main attention (never taken for it). */
export const OTHER_KIND_TENSORS: ReadonlySet<string> = new Set([...Object.values(SEQ2SEQ_ATTENTION_TENSORS), ATTENTION_NORM_TENSORS.data]);

/** The main attention tensor's usual name. */
export const MAIN_ATTENTION_TENSOR = ATTENTION_TENSORS.data;

/**
 * The word groups of a kind's rows and columns (the word view): decoder columns are the run's words and its rows
 * the answer's words (every word when all rows are stored); encoder rows and columns the source's words; cross
 * rows the answer's words over the source's words. `rows` = the stored matrix's row count.
 */
export function kindWordGroups(run: RunJson, kind: AttentionKindView, rows: number): { rows: Group[]; cols: Group[] } {
  const decoder = runGrouping(run, 'words');
  const answer = answerGroups(decoder, run.promptLength);
  const source = run.source ? wordGrouping(run.source.text, run.source.wordStarts) : [];
  if (kind.kind === 'encoder') return { rows: source, cols: source };
  if (kind.kind === 'cross') return { rows: answer, cols: source };
  return { rows: rows === run.tokens.text.length ? decoder.groups : answer, cols: decoder.groups };
}
