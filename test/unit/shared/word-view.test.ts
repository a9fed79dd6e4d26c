// Grouping rules of the word view against direct computations: sums of attributions are kept, row-stochastic
// attention rows stay row-stochastic after averaging the rows of a word, and shapes follow the words.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random';
import { alignTokens } from '../../../shared/token-alignment';
import { answerGroups, compareByWords, groupMatrix, groupOf, parseViewUnit, runGrouping, sumGroups } from '../../../shared/word-view';

const run = {
  promptLength: 7,
  tokens: {
    ids: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    text: ['<s>', ' The', ' unbel', 'iev', 'ably', ' quick', ' fo', 'x', '.', ' Yes'],
    role: [],
  },
};

/** A causal attention matrix over all positions: row q is a random distribution over keys 0..q, null after. */
function causalAttention(length: number, seed: number): (number | null)[][] {
  const random = mulberry32(seed);
  return Array.from({ length }, (_, q) => {
    const raw = Array.from({ length: q + 1 }, () => random() + 0.01);
    const total = raw.reduce((a, b) => a + b, 0);
    return Array.from({ length }, (_, k) => (k <= q ? raw[k] / total : null));
  });
}

describe('word view grouping', () => {
  it('groups a run by the stored word starts when present, by the texts otherwise, never across the prompt/answer split', () => {
    expect(runGrouping(run, 'words').groups.map((g) => g.text)).toEqual(['<s>', ' The', ' unbelievably', ' quick', ' fo', 'x.', ' Yes']);
    // " fo" is the last prompt token: "x." (answer) is cut from it.
    expect(runGrouping(run, 'words').promptGroups).toBe(5);
    const stored = { ...run, tokens: { ...run.tokens, wordStarts: [true, true, true, true, true, true, true, false, false, false] } };
    expect(runGrouping(stored, 'words').groups.map((g) => [g.start, g.end])).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 10]]);
    expect(runGrouping(run, 'tokens').groups).toHaveLength(10);
  });

  it('the sum of word attributions equals the sum of token attributions, signs kept', () => {
    const random = mulberry32(7);
    const values = run.tokens.text.map(() => random() * 2 - 1);
    const { groups } = runGrouping(run, 'words');
    const words = sumGroups(values, groups);
    const sum = (list: (number | null)[]) => list.reduce<number>((a, b) => a + (b ?? 0), 0);
    expect(sum(words)).toBeCloseTo(sum(values), 12);
    // Each word, summed by hand.
    expect(words[2]).toBeCloseTo(values[2] + values[3] + values[4], 12);
    expect(sumGroups([null, null, 3], [{ start: 0, end: 2 }, { start: 2, end: 3 }])).toEqual([null, 3]);
  });

  it('word attention rows still sum to 1 after averaging rows of row-stochastic matrices', () => {
    const attention = causalAttention(10, 3);
    const { groups } = runGrouping(run, 'words');
    const grouped = groupMatrix(attention, groups, groups);
    expect(grouped).toHaveLength(groups.length);
    for (const row of grouped) {
      expect(row).toHaveLength(groups.length);
      expect(row.reduce<number>((a, b) => a + (b ?? 0), 0)).toBeCloseTo(1, 12);
    }
    // One cell by hand: queries 2..4 (" unbelievably") averaged, keys 1..1 (" The") summed.
    const expected = (attention[2][1]! + attention[3][1]! + attention[4][1]!) / 3;
    expect(grouped[2][1]).toBeCloseTo(expected, 12);
    // Keys after every query of a word stay undrawn.
    expect(grouped[1][2]).toBeNull();
  });

  it('answer × input heatmaps by words: rows are answer words, columns all words', () => {
    const grouping = runGrouping(run, 'words');
    const answerRows = causalAttention(10, 5).slice(run.promptLength);
    const rows = answerGroups(grouping, run.promptLength);
    expect(rows.map((g) => [g.start, g.end])).toEqual([[0, 2], [2, 3]]);
    const grouped = groupMatrix(answerRows, rows, grouping.groups);
    expect(grouped.map((row) => row.length)).toEqual([7, 7]);
    expect(groupOf(rows, 1)).toBe(0);
    expect(groupOf(rows, 2)).toBe(1);
  });

  it('reads the unit from a URL parameter', () => {
    expect(parseViewUnit('words')).toBe('words');
    expect(parseViewUnit('segments')).toBe('segments');
    expect(parseViewUnit('nonsense')).toBe('tokens');
    expect(parseViewUnit(undefined)).toBe('tokens');
  });
});

describe('compare by words', () => {
  it('sums each run’s shares per word (still 1 in all), aligns words and recomputes the difference', () => {
    const run = (texts: string[], shares: number[]) => ({
      runId: texts.join(''), createdAt: '', modelName: 'm', modelPath: '/m', experiment: 'e', promptTokens: texts, answerTokens: [], answerText: '', shares, hasMethod: true,
    });
    const result = {
      method: 'saliency' as const,
      methods: ['saliency' as const],
      runs: [run(['<s>', ' Thunder', 'storms', ' roll'], [0.1, 0.2, 0.3, 0.4]), run(['<s>', ' Snow', 'storms', ' roll'], [0.25, 0.25, 0.25, 0.25])],
      alignment: alignTokens([['<s>', ' Thunder', 'storms', ' roll'], ['<s>', ' Snow', 'storms', ' roll']]),
      numbers: [],
    };
    const grouped = compareByWords(result);
    expect(grouped.runs[0].promptTokens).toEqual(['<s>', ' Thunderstorms', ' roll']);
    expect(grouped.runs[0].shares[1]).toBeCloseTo(0.5, 12);
    for (const entry of grouped.runs) expect(entry.shares.reduce<number>((a, b) => a + (b ?? 0), 0)).toBeCloseTo(1, 12);
    // "<s>" and " roll" match; the two different words are columns of their own.
    expect(grouped.alignment.columns).toHaveLength(4);
    const roll = grouped.alignment.columns.findIndex((column) => column.every((position) => position === 2));
    expect(grouped.difference![roll]).toBeCloseTo(0.25 - 0.4, 12);
  });
});
