// Token alignment for the compare view: runs of different models tokenize the same prompt differently, and
// runs over time may differ in a few words. Tokens are matched by text with a longest common subsequence, so
// equal tokens line up in one column and the rest get columns of their own. Pure: no DOM, no Node.

/** Columns of aligned tokens: `columns[c][s]` is sequence s's token position in column c, or null (a gap). */
export interface TokenAlignment {
  columns: (number | null)[][];
  /** Columns where every sequence has a token. */
  matched: number;
}

/**
 * The text a token is matched by: surrounding white space and the word-start markers of SentencePiece (▁) and
 * byte-level BPE (Ġ, Ċ) removed, so " Paris", "▁Paris" and "Paris" match. Tokens that are only white space
 * keep their text (a newline matches a newline).
 * @example tokenKey('▁Paris') // 'Paris'
 */
export function tokenKey(text: string): string {
  const stripped = text.replace(/^[\s▁ĠĊ]+|[\s▁ĠĊ]+$/g, '');
  return stripped === '' ? text : stripped;
}

/**
 * Matched index pairs [i, j] of a longest common subsequence of `a` and `b` (by equality), in increasing order.
 * The common prefix and suffix are taken first, so near-equal sequences cost little; the middle uses the
 * classic O(n·m) table.
 * @example longestCommonSubsequence(['a', 'b', 'c'], ['a', 'c']) // [[0, 0], [2, 1]]
 */
export function longestCommonSubsequence(a: readonly string[], b: readonly string[]): [number, number][] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < start; i++) pairs.push([i, i]);
  const n = endA - start;
  const m = endB - start;
  if (n > 0 && m > 0) {
    // table[i][j] = LCS length of a[start+i…endA) and b[start+j…endB), filled from the end so the walk below
    // goes forward and prefers the earliest match.
    const width = m + 1;
    const table = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * width + j] =
          a[start + i] === b[start + j]
            ? table[(i + 1) * width + j + 1] + 1
            : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        pairs.push([start + i, start + j]);
        i++;
        j++;
      } else if (table[(i + 1) * width + j] >= table[i * width + j + 1]) i++;
      else j++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) pairs.push([endA + k, endB + k]);
  return pairs;
}

/**
 * Aligns several token sequences by text. Sequence 0 is the reference; every other sequence is aligned to
 * the columns built so far (each column is keyed by the text of its first token), gaps fill the rest.
 * Order is kept: positions increase down each sequence's entries.
 *
 * @example alignTokens([[' The', ' cat', ' sat'], ['The', ' black', ' cat', ' sat']]).columns
 * // → [[0, 0], [null, 1], [1, 2], [2, 3]]
 */
export function alignTokens(sequences: readonly (readonly string[])[], key: (text: string) => string = tokenKey): TokenAlignment {
  if (sequences.length === 0) return { columns: [], matched: 0 };
  let columns: (number | null)[][] = sequences[0].map((_, position) => [position]);
  let columnKeys = sequences[0].map(key);
  for (let s = 1; s < sequences.length; s++) {
    const keys = sequences[s].map(key);
    const pairs = longestCommonSubsequence(columnKeys, keys);
    const next: (number | null)[][] = [];
    const nextKeys: string[] = [];
    let column = 0;
    let position = 0;
    const pushColumn = (from: number) => {
      next.push([...columns[from], null]);
      nextKeys.push(columnKeys[from]);
    };
    const pushToken = (at: number) => {
      next.push([...new Array<null>(s).fill(null), at]);
      nextKeys.push(keys[at]);
    };
    for (const [matchedColumn, matchedPosition] of pairs) {
      // Unmatched columns first, then unmatched tokens of the new sequence: a stable order for gaps.
      while (column < matchedColumn) pushColumn(column++);
      while (position < matchedPosition) pushToken(position++);
      next.push([...columns[column], position]);
      nextKeys.push(columnKeys[column]);
      column++;
      position++;
    }
    while (column < columns.length) pushColumn(column++);
    while (position < keys.length) pushToken(position++);
    columns = next;
    columnKeys = nextKeys;
  }
  return { columns, matched: columns.filter((entry) => entry.every((value) => value !== null)).length };
}

/**
 * Per aligned column, `values[1][p1] − values[0][p0]` where both sequences have a token with a value there;
 * null elsewhere. The difference row of a two-run comparison.
 * @example alignedDifference({columns: [[0, 0], [1, null]], matched: 1}, [[0.2, 0.8], [0.5]]) // [0.3, null]
 */
export function alignedDifference(alignment: TokenAlignment, values: readonly [readonly (number | null)[], readonly (number | null)[]]): (number | null)[] {
  return alignment.columns.map(([first, second]) => {
    if (first === null || second === null || first === undefined || second === undefined) return null;
    const a = values[0][first];
    const b = values[1][second];
    return a === null || b === null || a === undefined || b === undefined ? null : b - a;
  });
}

/** Special tokens (<s>, </s>, <|endoftext|>, [INST]) are words of their own. */
const SPECIAL_TOKEN = /^(<[^<>\s]+>|<\|[^|]*\|>|\[\/?[A-Z]+\])$/;

/**
 * Token spans [start, end) of the words of a token sequence, read from the token texts as the run stores them
 * (decoded, so a word's first token starts with white space, or with ▁ / Ġ when raw pieces are shown): a word
 * starts at position 0, at a token starting with white space or a word marker, after a token ending with white
 * space, and at and after a special token.
 * @example textWords([' The', ' gar', 'den', '.', '</s>']) // [[0, 1], [1, 4], [4, 5]]
 */
export function textWords(tokens: readonly string[]): [number, number][] {
  const spans: [number, number][] = [];
  tokens.forEach((token, i) => {
    const previous = tokens[i - 1];
    const starts =
      i === 0 || /^[\s▁ĠĊ]/.test(token) || /\s$/.test(previous) || SPECIAL_TOKEN.test(token.trim()) || SPECIAL_TOKEN.test(previous.trim());
    if (starts) spans.push([i, i + 1]);
    else spans[spans.length - 1][1] = i + 1;
  });
  return spans;
}

/**
 * Tokens joined into words (textWords) with their values summed per word (null when every token's value is
 * null): how runs of different tokenizers line up on the same text.
 * @example wordsOf([' The', ' gar', 'den'], [0.2, 0.3, 0.1]) // {words: [' The', ' garden'], values: [0.2, 0.4], spans: [[0, 1], [1, 3]]}
 */
export function wordsOf(tokens: readonly string[], values: readonly (number | null)[]): { words: string[]; values: (number | null)[]; spans: [number, number][] } {
  const spans = textWords(tokens);
  return {
    spans,
    words: spans.map(([start, end]) => tokens.slice(start, end).join('')),
    values: spans.map(([start, end]) => {
      const present = values.slice(start, end).filter((value): value is number => value !== null && value !== undefined);
      return present.length === 0 ? null : present.reduce((sum, value) => sum + value, 0);
    }),
  };
}
