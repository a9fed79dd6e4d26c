// A word-level tokenizer for the demo task, written in the tokenizer.json format (WordLevel model) so the demo
// folder is an ordinary transformers.js folder, and an encoder here that gives the same ids without loading
// transformers.js (training encodes tens of thousands of prompts; a test checks both agree).
//
// Tokens are words with their leading space (" phone"), single punctuation marks (":" or " $") and newlines,
// so that decoding is plain concatenation and answers read back exactly ("mon-fri 9am-6pm"); the normalizer
// puts a space after each newline (decoded prompts show it). [DATA] and
// [/DATA] are added tokens: one token each, so data lines are easy to find in token ids.
import type { TokenizerFiles } from '../../engine/model-builder/tokenizers';
import { DAYS, HOURS, KEYS, NUMBERS, QUESTIONS, SYSTEM_PROMPT, userMessage, VALUES } from './task';

export const SPECIAL_TOKENS = { unk: '<unk>', bos: '<s>', eos: '</s>', pad: '<pad>' } as const;
export const DATA_TOKENS = ['[DATA]', '[/DATA]'] as const;
export const NEWLINE = '\n';

/**
 * The pre-tokenizer's pattern: a word with an optional leading space, an optional leading "$" and at most one
 * trailing mark (" support:", " 9am-", " $50", " 48%"), else a single mark, else a newline. Keeping the mark
 * with its word makes every token of a data line unique within a prompt, so copying a line is plain
 * induction ("find this token earlier, continue from there").
 */
export const WORD_PATTERN = ' ?\\$?[A-Za-z0-9]+[^A-Za-z0-9\\s]?| ?[^A-Za-z0-9\\s]|\\n';
const WORD_REGEX = new RegExp(WORD_PATTERN, 'g');

/**
 * The chat template: `<s>`, then one line per message as `role: content`, assistant turns closed by `</s>`;
 * the generation prompt is `assistant:` and the answer follows with its leading space.
 */
export const DEMO_CHAT_TEMPLATE = [
  '{{ bos_token }}{% for message in messages %}',
  "{% if message['role'] == 'assistant' %}{{ 'assistant: ' + message['content'] + eos_token + '\\n' }}",
  "{% else %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endif %}",
  "{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}",
].join('');

/** Text of a chat prompt exactly as DEMO_CHAT_TEMPLATE renders it (with the generation prompt). */
export function renderPrompt(system: string | undefined, user: string): string {
  return `${SPECIAL_TOKENS.bos}${system === undefined ? '' : `system: ${system}\n`}user: ${user}\nassistant:`;
}

/** Pre-tokenized pieces of plain text (no added tokens inside). */
export function words(text: string): string[] {
  return text.match(WORD_REGEX) ?? [];
}

/**
 * The normalizer: a space after every newline, so that a word starting a line is the same token as the word
 * inside a sentence (" phone" in a data line and in the question), which makes matching the asked key to its
 * line a same-token lookup.
 */
export function normalize(text: string): string {
  return text.replaceAll(NEWLINE, `${NEWLINE} `);
}

/** Every piece the task can produce, in a stable order: from prompts covering every key, value form and question. */
function taskPieces(): string[] {
  const texts: string[] = [];
  // Each value pattern with every filler of a slot type in all its slots: covers each slot position's forms.
  const fillers = { day: DAYS, hour: HOURS, n: NUMBERS } as const;
  const values: string[] = [];
  for (const pattern of VALUES) {
    const slots = [...new Set([...pattern.matchAll(/\{(day|hour|n)\}/g)].map((m) => m[1] as keyof typeof fillers))];
    if (slots.length === 0) values.push(pattern);
    for (const slot of slots) for (const filler of fillers[slot]) values.push(pattern.replace(/\{(day|hour|n)\}/g, (_, s: keyof typeof fillers) => (s === slot ? filler : fillers[s][0])));
  }
  const facts = [...KEYS.map((key) => ({ key, value: VALUES[0] })), ...values.map((value) => ({ key: KEYS[0], value }))];
  for (const question of QUESTIONS) for (const key of KEYS) texts.push(renderPrompt(SYSTEM_PROMPT, userMessage(facts.slice(0, 2), question.replace('{key}', key))));
  texts.push(renderPrompt(undefined, userMessage(facts, QUESTIONS[0].replace('{key}', KEYS[0]))));
  // Replies restate the line after the generation prompt ("assistant: email support: …"); later turns follow.
  for (const fact of [...KEYS.map((key) => ({ key, value: '' }))]) texts.push(` ${fact.key}:`);
  for (const value of values) texts.push(` ${value}`);
  texts.push(`${SPECIAL_TOKENS.eos}\nuser: x\nassistant:`);
  const pieces = new Set<string>();
  for (const text of texts) {
    for (const part of text.split(/<s>|<\/s>|\[DATA\]|\[\/DATA\]/)) for (const piece of words(normalize(part))) pieces.add(piece);
  }
  return [...pieces].sort();
}

/** The vocabulary: special tokens first (llama's ids: unk 0, bos 1, eos 2), pad, data markers, newline, words. */
export function demoVocabulary(): string[] {
  return [SPECIAL_TOKENS.unk, SPECIAL_TOKENS.bos, SPECIAL_TOKENS.eos, SPECIAL_TOKENS.pad, ...DATA_TOKENS, NEWLINE, ...taskPieces().filter((p) => p !== NEWLINE)];
}

/** Encodes text like the tokenizer.json below: added tokens split out first, then words looked up. */
export class DemoEncoder {
  readonly vocabulary: string[];
  readonly ids: Map<string, number>;
  private readonly added: RegExp;

  constructor(vocabulary: string[] = demoVocabulary()) {
    this.vocabulary = vocabulary;
    this.ids = new Map(vocabulary.map((token, id) => [token, id]));
    const escaped = [...Object.values(SPECIAL_TOKENS), ...DATA_TOKENS].map((t) => t.replace(/[[\]/\\.*+?^$(){}|]/g, '\\$&'));
    this.added = new RegExp(`(${escaped.join('|')})`);
  }

  id(token: string): number {
    return this.ids.get(token) ?? this.ids.get(SPECIAL_TOKENS.unk)!;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const part of text.split(this.added)) {
      if (part === '') continue;
      if (this.ids.has(part) && this.added.test(part)) out.push(this.ids.get(part)!);
      else for (const piece of words(normalize(part))) out.push(this.id(piece));
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => this.vocabulary[id] ?? SPECIAL_TOKENS.unk).join('');
  }

  get bos(): number {
    return this.ids.get(SPECIAL_TOKENS.bos)!;
  }
  get eos(): number {
    return this.ids.get(SPECIAL_TOKENS.eos)!;
  }
  get pad(): number {
    return this.ids.get(SPECIAL_TOKENS.pad)!;
  }
  get newline(): number {
    return this.ids.get(NEWLINE)!;
  }
  get dataOpen(): number {
    return this.ids.get(DATA_TOKENS[0])!;
  }
  get dataClose(): number {
    return this.ids.get(DATA_TOKENS[1])!;
  }
}

/** tokenizer.json, tokenizer_config.json and special_tokens_map.json of the demo model. */
export function demoTokenizerFiles(vocabulary: string[] = demoVocabulary()): TokenizerFiles {
  const id = (token: string) => vocabulary.indexOf(token);
  const added = (content: string, special: boolean) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...Object.values(SPECIAL_TOKENS).map((t) => added(t, true)), ...DATA_TOKENS.map((t) => added(t, false))],
    normalizer: { type: 'Replace', pattern: { String: NEWLINE }, content: `${NEWLINE} ` },
    pre_tokenizer: { type: 'Split', pattern: { Regex: WORD_PATTERN }, behavior: 'Removed', invert: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: SPECIAL_TOKENS.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: SPECIAL_TOKENS.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [SPECIAL_TOKENS.bos]: { id: SPECIAL_TOKENS.bos, ids: [id(SPECIAL_TOKENS.bos)], tokens: [SPECIAL_TOKENS.bos] } },
    },
    // Pieces carry their own spaces, so decoding is concatenation.
    decoder: { type: 'Fuse' },
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocabulary.map((token, index) => [token, index])), unk_token: SPECIAL_TOKENS.unk },
  };
  const special = { bos_token: SPECIAL_TOKENS.bos, eos_token: SPECIAL_TOKENS.eos, unk_token: SPECIAL_TOKENS.unk, pad_token: SPECIAL_TOKENS.pad };
  return {
    tokenizer,
    tokenizerConfig: {
      ...special,
      add_bos_token: true,
      add_eos_token: false,
      clean_up_tokenization_spaces: false,
      model_max_length: 512,
      tokenizer_class: 'PreTrainedTokenizerFast',
      chat_template: DEMO_CHAT_TEMPLATE,
    },
    specialTokensMap: special,
  };
}
