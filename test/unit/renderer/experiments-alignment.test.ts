// Token alignment (shared/token-alignment): LCS against a brute-force reference, the column invariants on
// random sequences, tokenizer word-start markers, and the two-run difference.
import { describe, expect, it } from 'vitest';
import { alignedDifference, alignTokens, longestCommonSubsequence, tokenKey } from '../../../shared/token-alignment';

/** LCS length by trying every subsequence of `a` (fine for up to ~12 items). */
function bruteForceLcsLength(a: string[], b: string[]): number {
  let best = 0;
  for (let mask = 0; mask < 1 << a.length; mask++) {
    const picked = a.filter((_, index) => mask & (1 << index));
    let j = 0;
    for (const item of b) if (j < picked.length && picked[j] === item) j++;
    if (j === picked.length) best = Math.max(best, picked.length);
  }
  return best;
}

function seeded(seed: number) {
  let state = seed;
  return () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('longestCommonSubsequence', () => {
  it('matches a brute-force LCS length and returns valid increasing pairs of equal items', () => {
    const random = seeded(7);
    for (let trial = 0; trial < 200; trial++) {
      const a = Array.from({ length: Math.floor(random() * 10) }, () => 'abcd'[Math.floor(random() * 4)]);
      const b = Array.from({ length: Math.floor(random() * 10) }, () => 'abcd'[Math.floor(random() * 4)]);
      const pairs = longestCommonSubsequence(a, b);
      expect(pairs.length, `${a.join('')} / ${b.join('')}`).toBe(bruteForceLcsLength(a, b));
      pairs.forEach(([i, j], index) => {
        expect(a[i]).toBe(b[j]);
        if (index > 0) {
          expect(i).toBeGreaterThan(pairs[index - 1][0]);
          expect(j).toBeGreaterThan(pairs[index - 1][1]);
        }
      });
    }
  });

  it('handles empty and identical sequences', () => {
    expect(longestCommonSubsequence([], ['a'])).toEqual([]);
    expect(longestCommonSubsequence(['x', 'y'], ['x', 'y'])).toEqual([[0, 0], [1, 1]]);
  });
});

describe('alignTokens', () => {
  it('aligns the example of its doc comment', () => {
    expect(alignTokens([[' The', ' cat', ' sat'], ['The', ' black', ' cat', ' sat']])).toEqual({
      columns: [[0, 0], [null, 1], [1, 2], [2, 3]],
      matched: 3,
    });
  });

  it('matches SentencePiece and byte-level BPE spellings of the same word', () => {
    expect(tokenKey('▁Paris')).toBe('Paris');
    expect(tokenKey('ĠParis')).toBe('Paris');
    expect(tokenKey(' \n')).toBe(' \n');
    const { columns } = alignTokens([['<s>', '▁The', '▁capital'], ['The', 'Ġcapital', 'Ġis']]);
    expect(columns).toEqual([[0, null], [1, 0], [2, 1], [null, 2]]);
  });

  it('keeps every position of every sequence once and in order, for three sequences', () => {
    const random = seeded(11);
    for (let trial = 0; trial < 50; trial++) {
      const sequences = Array.from({ length: 3 }, () => Array.from({ length: 3 + Math.floor(random() * 8) }, () => 'wxyz'[Math.floor(random() * 4)]));
      const { columns, matched } = alignTokens(sequences);
      sequences.forEach((sequence, s) => {
        expect(columns.map((column) => column[s]).filter((value) => value !== null)).toEqual(sequence.map((_, index) => index));
      });
      for (const column of columns) {
        const texts = column.flatMap((position, s) => (position === null ? [] : [sequences[s][position]]));
        expect(new Set(texts).size).toBe(1);
        expect(column).toHaveLength(3);
      }
      expect(matched).toBe(columns.filter((column) => column.every((value) => value !== null)).length);
    }
  });

  it('returns no columns for no sequences', () => {
    expect(alignTokens([])).toEqual({ columns: [], matched: 0 });
  });
});

describe('alignedDifference', () => {
  it('subtracts run 1 from run 2 where both have a value', () => {
    const alignment = { columns: [[0, 0], [1, null], [null, 1], [2, 2]], matched: 2 };
    expect(alignedDifference(alignment, [[0.2, 0.5, 0.3], [0.5, 0.1, null]])).toEqual([0.5 - 0.2, null, null, null]);
  });
});
