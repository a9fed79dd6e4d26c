import { describe, expect, it } from 'vitest';
import { splitAt, wordSpans, wordStarts, wordStartsFromText } from '../../../shared/word-groups';

describe('word groups', () => {
  it('SentencePiece: ▁ starts a word; specials stand alone', () => {
    expect(wordStarts(['<s>', '▁Hel', 'lo', '▁world', ','])).toEqual([true, true, false, true, false]);
  });
  it('byte-level BPE: Ġ and Ċ start a word, and so does the word after a newline', () => {
    expect(wordStarts(['The', 'Ġqu', 'ick', 'Ċ', 'fox', '<|endoftext|>', 'x'])).toEqual([true, true, false, true, true, true, true]);
  });
  it('SentencePiece byte fallback: a newline byte stands alone, other bytes join their word', () => {
    expect(wordStarts(['▁a', '<0x0A>', 'b', '▁<0xF0>', '<0x9F>'])).toEqual([true, true, true, true, false]);
  });
  it('decoded texts (runs stored without word starts): a leading space starts a word', () => {
    expect(wordStartsFromText(['<s>', ' Hel', 'lo', ' world', ',', '\n', 'Next'])).toEqual([true, true, false, true, false, true, true]);
    expect(wordStartsFromText(['你', '好'])).toEqual([true, true]);
  });
  it('WordPiece: ## continues a word', () => {
    expect(wordStarts(['[CLS]', 'un', '##afford', '##able', 'price'])).toEqual([true, true, false, false, true]);
  });
  it('word-level vocabularies: every token is a word', () => {
    expect(wordStarts(['the', 'cat', 'sat'])).toEqual([true, true, true]);
  });
  it('spans from starts, cut at the prompt/answer boundary', () => {
    expect(wordSpans([true, false, true, false, false])).toEqual([[0, 2], [2, 5]]);
    expect(splitAt([[0, 2], [2, 5]], 3)).toEqual([[0, 2], [2, 3], [3, 5]]);
  });
});
