// Word alignment of the compare view (shared/token-alignment textWords, wordsOf): runs of different tokenizers —
// an encoder-decoder run's source and a decoder-only run's prompt — split the same text into different tokens;
// joined into words they line up. Checked against the text's own words (split on spaces) for random splits.
import { describe, expect, it } from 'vitest';
import { alignTokens, textWords, tokenKey, wordsOf } from '../../../shared/token-alignment';
import { mulberry32 } from '../../../shared/random';

/** Splits each word of `text` into random pieces, the first carrying the leading space (as decoded token texts do). */
function randomTokens(text: string, random: () => number): string[] {
  return text.split(' ').flatMap((word, index) => {
    const pieces: string[] = [];
    let rest = word;
    while (rest.length > 1 && random() < 0.5) {
      const cut = 1 + Math.floor(random() * (rest.length - 1));
      pieces.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    pieces.push(rest);
    if (index > 0) pieces[0] = ` ${pieces[0]}`;
    return pieces;
  });
}

describe('word alignment', () => {
  it('groups decoded tokens into the words of the text, and special tokens stand alone', () => {
    expect(textWords([' The', ' gar', 'den', '.', '</s>'])).toEqual([[0, 1], [1, 4], [4, 5]]);
    expect(textWords(['<s>', '▁[', 'INST', ']', '▁Hi'])).toEqual([[0, 1], [1, 4], [4, 5]]);
    const grouped = wordsOf([' The', ' gar', 'den'], [0.25, 0.5, 0.125]);
    expect(grouped).toEqual({ words: [' The', ' garden'], values: [0.25, 0.625], spans: [[0, 1], [1, 3]] });
    expect(wordsOf(['a', 'b'], [null, null]).values).toEqual([null]);
  });

  it('two random tokenizations of one text align word for word, each word keeping its tokens’ total', () => {
    const random = mulberry32(7);
    const text = 'summarize: The garden behind the old house is green and quiet. Birds sing there every morning.';
    const words = text.split(' ');
    for (let trial = 0; trial < 50; trial++) {
      const a = randomTokens(text, random);
      const b = randomTokens(text, random);
      const values = a.map(() => random());
      const grouped = wordsOf(a, values);
      expect(grouped.words.map(tokenKey)).toEqual(words);
      expect(grouped.values.reduce((sum, value) => sum! + value!, 0)).toBeCloseTo(values.reduce((sum, value) => sum + value, 0), 12);
      grouped.spans.forEach(([start, end], w) => expect(grouped.values[w]).toBeCloseTo(values.slice(start, end).reduce((s, v) => s + v, 0), 12));
      const alignment = alignTokens([grouped.words, wordsOf(b, b.map(() => 0)).words]);
      expect(alignment.matched).toBe(words.length);
      expect(alignment.columns).toEqual(words.map((_, w) => [w, w]));
    }
  });

  it('a source with a task prefix lines up with a chat prompt on the words they share', () => {
    const source = wordsOf(['summar', 'ize', ':', ' The', ' house', ' is', ' green', '.', '</s>'], new Array(9).fill(0.1)).words;
    const prompt = wordsOf(['<s>', '▁[', 'INST', ']', ' The', ' hou', 'se', ' is', ' green', '.', ' [', '/', 'INST', ']'], new Array(14).fill(0.1)).words;
    const alignment = alignTokens([source, prompt]);
    expect(alignment.matched).toBe(4); // The, house, is, green.
    const matchedWords = alignment.columns.filter((column) => column.every((p) => p !== null)).map(([p]) => tokenKey(source[p!]));
    expect(matchedWords).toEqual(['The', 'house', 'is', 'green.']);
  });
});
