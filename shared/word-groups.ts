// Subword tokens grouped into words by the tokenizer's own word boundaries, read from the raw token strings:
// SentencePiece marks a word's first piece with ▁, byte-level BPE (GPT-2, llama-3, Qwen) with Ġ (space) or
// Ċ (newline), WordPiece marks continuations with ##; special tokens and chat-template markers (<s>,
// <|endoftext|>, <|im_start|>, [CLS]) are words of their own; a word-level vocabulary makes every token a word.
// Runs stored before runs recorded their word starts fall back to the decoded texts (a leading space starts a word).

const SPECIAL = /^(<[^<>\s]+>|<\|[^|]*\|>|\[[A-Z]+\])$/;
/** SentencePiece byte fallback (<0x0A>): not a special token but one byte of text. */
const BYTE = /^<0x([0-9A-Fa-f]{2})>$/;
/** A word-start marker: SentencePiece ▁, byte-level Ġ (space), Ċ (newline), ĉ (tab), č (carriage return). */
const MARK = /^[▁ĠĊĉč\s]/;
const ONLY_SPACE = /^[▁ĠĊĉč\s]+$/;

function isByte(token: string): { space: boolean } | undefined {
  const byte = BYTE.exec(token);
  return byte ? { space: /^\s$/.test(String.fromCharCode(parseInt(byte[1], 16))) } : undefined;
}

function isSpecial(token: string): boolean {
  return SPECIAL.test(token) && !BYTE.test(token);
}

/** A token that is only white space (a newline, a lone ▁): the word after it starts afresh. */
function endsInSpace(token: string): boolean {
  return ONLY_SPACE.test(token) || isByte(token)?.space === true;
}

/**
 * Whether each token starts a word, from the tokenizer's raw token strings. Example:
 * `wordStarts(['<s>', '▁Hel', 'lo', '▁world', ','])` → `[true, true, false, true, false]`;
 * `wordStarts(['Hel', '##lo'])` → `[true, false]`; `wordStarts(['The', 'Ġqu', 'ick', 'Ċ', 'fox'])` → all but `ick`.
 */
export function wordStarts(tokens: readonly string[]): boolean[] {
  const wordPiece = tokens.some((t) => t.startsWith('##') && t.length > 2);
  const marked = tokens.some((t) => MARK.test(t));
  return tokens.map((token, i) => {
    if (i === 0 || isSpecial(token) || isSpecial(tokens[i - 1])) return true;
    if (wordPiece) return !token.startsWith('##');
    if (marked) return MARK.test(token) || isByte(token)?.space === true || endsInSpace(tokens[i - 1]);
    // No markers at all: a word-level vocabulary (or a run too short to tell): every token is a word.
    return true;
  });
}

/**
 * Word starts from decoded token texts (a run's `tokens.text`, where " world" keeps its space): for runs stored
 * without `tokens.wordStarts`. A token starts a word after white space, at a special token, or when no token of
 * the text has white space at all (a word-level vocabulary decoded without separators).
 * @example wordStartsFromText(['<s>', ' Hel', 'lo', ' world', ',']) // [true, true, false, true, false]
 */
export function wordStartsFromText(texts: readonly string[]): boolean[] {
  const spaced = texts.some((text, i) => i > 0 && /\s/.test(text));
  return texts.map((text, i) => {
    if (i === 0 || !spaced || isSpecial(text) || isSpecial(texts[i - 1])) return true;
    return /^\s/.test(text) || /\s$/.test(texts[i - 1]);
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
