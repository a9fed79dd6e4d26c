// Views by word (or by segment) instead of by token: groups of positions and the rules that turn per-token
// values into per-group values. One place, so the run view, the heatmaps, the terminal view, the experiment
// aggregates and the reports all group the same way.
//   attributions: a group's value is the sum of its tokens' values (signed methods stay signed);
//   matrices (attention, answer × input): a cell is summed over the keys (columns) of the column group and
//   averaged over the queries (rows) of the row group, so row-stochastic rows stay row-stochastic.
import type { CompareResult } from './api';
import { attributionEntry } from './method-catalog';
import { alignedDifference, alignTokens } from './token-alignment';
import type { RunJson } from './run';
import { answerMatrix, tokenValues, type AnswerFocus, type TokenValues, type ViewMethod } from './token-values';
import { splitAt, wordSpans, wordStarts, wordStartsFromText } from './word-groups';

export const VIEW_UNITS = ['tokens', 'words', 'segments'] as const;
/** What a view's chips, rows and columns stand for. */
export type ViewUnit = (typeof VIEW_UNITS)[number];

/** The aggregation rules in one sentence each, shown next to every Tokens | Words switch. */
export const GROUP_RULES = {
  attribution: "A word's value is the sum of its tokens' values (signed methods stay signed).",
  matrix: 'Cells: summed over the keys (columns) of a word, averaged over the queries (rows) of a word; each row still sums to what a token row sums to.',
} as const;

/** Positions [start, end) that form one group, and its text. */
export interface Group {
  start: number;
  end: number;
  text: string;
}

/** Groups over a whole sequence and how many of them lie in the prompt (groups never cross the prompt/answer split). */
export interface Grouping {
  groups: Group[];
  promptGroups: number;
}

/** Word starts of a token list: the stored ones (from the tokenizer's raw pieces) when present, else from the texts. */
export function startsOf(texts: readonly string[], stored?: readonly boolean[]): boolean[] {
  return stored && stored.length === texts.length ? [...stored] : wordStartsFromText(texts);
}

/** Groups of a token list from spans; texts are the tokens' texts joined. */
export function groupsFromSpans(texts: readonly string[], spans: readonly [number, number][]): Group[] {
  return spans.map(([start, end]) => ({ start, end, text: texts.slice(start, end).join('') }));
}

/**
 * One group per token ('tokens') or per word ('words') over a run's tokens, split at the prompt/answer boundary.
 * @example runGrouping({tokens: {text: ['<s>', ' Hel', 'lo', ' world'], …}, promptLength: 3}, 'words').groups.map((g) => g.text) // ['<s>', ' Hello', ' world']
 */
export function runGrouping(run: Pick<RunJson, 'tokens' | 'promptLength'>, unit: ViewUnit): Grouping {
  const texts = run.tokens.text;
  const spans: [number, number][] =
    unit === 'tokens' ? texts.map((_, i) => [i, i + 1]) : splitAt(wordSpans(startsOf(texts, run.tokens.wordStarts)), run.promptLength);
  const groups = groupsFromSpans(texts, spans);
  return { groups, promptGroups: groups.filter((group) => group.end <= run.promptLength).length };
}

/** Word groups of a plain token list (a seq2seq source), from stored starts or the texts. */
export function wordGrouping(texts: readonly string[], stored?: readonly boolean[]): Group[] {
  return groupsFromSpans(texts, wordSpans(startsOf(texts, stored)));
}

/**
 * Sum of each group's values; null when none of its tokens has a value.
 * @example sumGroups([1, -2, null, 4], [{start: 0, end: 2}, {start: 2, end: 4}]) // [-1, 4]
 */
export function sumGroups(values: readonly (number | null)[], groups: readonly Pick<Group, 'start' | 'end'>[]): (number | null)[] {
  return groups.map(({ start, end }) => {
    let sum = 0;
    let any = false;
    for (let i = start; i < end; i++) {
      const value = values[i];
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      sum += value;
      any = true;
    }
    return any ? sum : null;
  });
}

/**
 * A matrix regrouped: cell (R, C) = mean over the rows r of R of Σ over the columns c of C of m[r][c]. A missing
 * cell (null: a masked key after the query) counts as 0 inside a group that has any value, and the cell is null
 * only when every cell of the block is missing. A row-stochastic matrix stays row-stochastic.
 * @example groupMatrix([[0.5, 0.5, null], [0.2, 0.3, 0.5]], [{start: 0, end: 2}], [{start: 0, end: 2}, {start: 2, end: 3}]) // [[0.75, 0.25]]
 */
export function groupMatrix(
  matrix: readonly (readonly (number | null)[])[],
  rowGroups: readonly Pick<Group, 'start' | 'end'>[],
  colGroups: readonly Pick<Group, 'start' | 'end'>[],
): (number | null)[][] {
  return rowGroups.map(({ start, end }) => {
    const rows = matrix.slice(start, end);
    return colGroups.map((col) => {
      let sum = 0;
      let any = false;
      for (const row of rows) {
        for (let c = col.start; c < col.end; c++) {
          const value = row[c];
          if (value === null || value === undefined || !Number.isFinite(value)) continue;
          sum += value;
          any = true;
        }
      }
      return any && rows.length > 0 ? sum / rows.length : null;
    });
  });
}

/** The groups of the answer only, re-indexed from 0 (rows of answer × input matrices). */
export function answerGroups(grouping: Grouping, promptLength: number): Group[] {
  return grouping.groups.slice(grouping.promptGroups).map((group) => ({ ...group, start: group.start - promptLength, end: group.end - promptLength }));
}

/** The group that holds a position (index into `groups`); -1 when none does. */
export function groupOf(groups: readonly Pick<Group, 'start' | 'end'>[], position: number): number {
  return groups.findIndex((group) => group.start <= position && position < group.end);
}

/** A view unit read from a URL parameter; anything else is tokens. */
export function parseViewUnit(value: string | undefined): ViewUnit {
  return (VIEW_UNITS as readonly string[]).includes(value ?? '') ? (value as ViewUnit) : 'tokens';
}

/**
 * The values a run view shows per group for a method and a focus (an answer token, or the whole answer).
 * Whole answer: the token values summed per group. One answer token: the rows of every token of its answer word
 * averaged and the columns summed per group (as the heatmap cell rule), so the chip and the heatmap row agree.
 */
export function groupedValues(run: RunJson, method: ViewMethod, focus: AnswerFocus, grouping: Grouping): TokenValues {
  const tokens = tokenValues(run, method, focus);
  if (focus === 'sequence' || !attributionEntry(method).rows) return { ...tokens, values: sumGroups(tokens.values, grouping.groups) };
  const rows = answerGroups(grouping, run.promptLength);
  const row = rows[groupOf(rows, focus)];
  if (!row) return { ...tokens, values: sumGroups(tokens.values, grouping.groups) };
  return { ...tokens, values: groupMatrix(answerMatrix(run, method), [row], grouping.groups)[0] };
}

/** The answer × input heatmap of a method by groups: rows are answer groups, columns all groups. */
export function groupedAnswerMatrix(run: RunJson, method: ViewMethod, grouping: Grouping): (number | null)[][] {
  return groupMatrix(answerMatrix(run, method), answerGroups(grouping, run.promptLength), grouping.groups);
}

/**
 * A run's prompt attribution mass per prompt word (each word's tokens' mass summed) with the words' texts: the
 * input of the experiment's "most attributed words" (shares of a run's prompt mass add up to 1 either way).
 * @example promptWordMass({tokens: {text: ['<s>', ' Hel', 'lo'], …}, promptLength: 3}, [0.1, 0.2, 0.3]) // {texts: ['<s>', ' Hello'], mass: [0.1, 0.5], starts: [0, 1]}
 */
export function promptWordMass(run: Pick<RunJson, 'tokens' | 'promptLength'>, mass: ArrayLike<number>): { texts: string[]; mass: Float64Array; starts: number[] } {
  const { groups, promptGroups } = runGrouping(run, 'words');
  const words = groups.slice(0, promptGroups);
  const sums = sumGroups(Array.from(mass), words);
  return { texts: words.map((word) => word.text), mass: Float64Array.from(sums, (value) => value ?? 0), starts: words.map((word) => word.start) };
}

/**
 * The compare view by words: each run's prompt words (its tokens' texts joined) with their shares (the tokens'
 * shares summed, so each run's shares still add up to 1), aligned by word text, the difference recomputed, and
 * the summary numbers' top tokens replaced by top words.
 */
export function compareByWords(result: CompareResult): CompareResult {
  const runs = result.runs.map((run) => {
    const words = wordGrouping(run.promptTokens, run.promptWordStarts);
    return { ...run, promptTokens: words.map((word) => word.text), shares: sumGroups(run.shares, words), promptWordStarts: words.map(() => true) };
  });
  const alignment = alignTokens(runs.map((run) => run.promptTokens));
  const numbers = result.numbers.map((entry) => ({ ...entry, topTokens: entry.topWords ?? entry.topTokens }));
  const grouped: CompareResult = { ...result, runs, alignment, numbers };
  if (runs.length === 2) grouped.difference = alignedDifference(alignment, [runs[0].shares, runs[1].shares]);
  return grouped;
}
