// Subword tokens grouped into words by the tokenizer's own word boundaries, read from the raw token strings:
// SentencePiece marks a word's first piece with ▁, byte-level BPE (GPT-2) with Ġ (space) or Ċ (newline),
// WordPiece marks continuations with ##; special tokens (<s>, <|endoftext|>, [CLS]) are words of their own;
// a word-level vocabulary makes every token a word.

const SPECIAL = /^(<[^<>\s]+>|<\|[^|]*\|>|\[[A-Z]+\])$/;

/**
 * Whether each token starts a word. Example: `wordStarts(['<s>', '▁Hel', 'lo', '▁world', ','])` →
 * `[true, true, false, true, false]`; `wordStarts(['Hel', '##lo'])` → `[true, false]`.
 */
export function wordStarts(tokens: readonly string[]): boolean[] {
  const wordPiece = tokens.some((t) => t.startsWith('##'));
  const marked = tokens.some((t) => /^[▁ĠĊ]/.test(t));
  return tokens.map((token, i) => {
    if (i === 0 || SPECIAL.test(token) || SPECIAL.test(tokens[i - 1])) return true;
    if (wordPiece) return !token.startsWith('##');
    if (marked) return /^[▁ĠĊ\s]/.test(token);
    // No markers at all: a word-level vocabulary (or a run too short to tell): every token is a word.
    return true;
  });
}

/** Words as spans [start, end) over positions, from `wordStarts`. Example: `[true, false, true]` → `[[0, 2], [2, 3]]`. */
export function wordSpans(starts: readonly boolean[]): [number, number][] {
  const spans: [number, number][] = [];
  starts.forEach((start, i) => {
    if (start || spans.length === 0) spans.push([i, i + 1]);
    else spans[spans.length - 1][1] = i + 1;
  });
  return spans;
}

/** Spans that never cross `boundary` (the prompt/answer split): a word straddling it is cut in two. */
export function splitAt(spans: readonly [number, number][], boundary: number): [number, number][] {
  return spans.flatMap(([start, end]): [number, number][] => (start < boundary && boundary < end ? [[start, boundary], [boundary, end]] : [[start, end]]));
}
