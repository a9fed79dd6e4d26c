// A supplied answer (teacher forcing) as the tokens the model would have produced after the prompt.
//
// The rule (README "Supplied answers"):
//  1. Continuation text. Chat-templated prompts: the template decides what separates the generation prompt from
//     the assistant's reply. The conversation is rendered once more with the answer as the assistant's message,
//     and the whitespace the template puts between the generation prompt and the answer (" " for llama-2 and the
//     demo model, "" for ChatML and Gemma) replaces the answer's own leading whitespace. Plain-text prompts
//     (completion, or a model without a template): the answer follows the prompt text exactly as given, so a
//     completion answer carries its own leading space (" Paris").
//  2. Tokens. The tokenizer encodes prompt text + continuation in one piece and the answer is what follows the
//     prompt's own tokens: SentencePiece then adds no word-start "▁" in mid-text, and byte-level BPE sees the
//     bytes it would see in a generated sequence. Encoding the answer on its own (the earlier rule) turned the
//     demo model's "email support: …" into <unk> (its vocabulary only has " email").
//  3. When the tokenizer joins the prompt's last characters with the answer's first ones (the prompt's tokens are
//     no longer a prefix), the prompt is kept as it is and the answer is encoded after a line break instead; the
//     run says so. Exact prompt ids are decoded to text first, and handled the same way.
// An answer that maps to the unknown token is explained as that token, not as its text: the run warns.
import type { ChatMessage } from '../../shared/run';
import type { LoadedModel } from './model-folder';

/** The tokenizer-related parts of a loaded model (what prompt building needs). */
export type PromptModel = Pick<LoadedModel, 'tokenizer' | 'chatTemplate'>;

/** The prompt as the text its ids are encoded from, and whether the tokenizer adds its special tokens. */
export interface PromptText {
  text: string;
  specialTokens: boolean;
  /** The messages the chat template rendered (with the system prompt placed); absent for plain text. */
  messages?: ChatMessage[];
}

export interface AnswerTokens {
  ids: number[];
  /** What the user should know about these tokens (stored in the run's `warnings`). */
  warnings: string[];
}

/** Encodes after this text when the prompt's own text cannot be used; a line break ends a token in every tokenizer we ship. */
const ANCHOR = '\n';

const startsWith = (list: readonly number[], prefix: readonly number[]) => prefix.length <= list.length && prefix.every((id, i) => list[i] === id);

/**
 * Answer ids for `answer` after the prompt ids `promptIds` (encoded from `prompt`, or exact ids when undefined).
 * Example (demo model, chat prompt ending "assistant:"): answer "email support: next business day" →
 * ids of [" email", " support:", " next", " business", " day"], no warnings.
 */
export function answerTokens(model: PromptModel, prompt: PromptText | undefined, promptIds: readonly number[], answer: string): AnswerTokens {
  const { tokenizer } = model;
  const warnings: string[] = [];
  const prefix = prompt ?? { text: tokenizer.decode([...promptIds], { skip_special_tokens: false }), specialTokens: false };
  const continuation = continuationText(model, prompt, answer);
  const whole = tokenizer.encode(prefix.text + continuation, { add_special_tokens: prefix.specialTokens });
  let ids: number[];
  if (startsWith(whole, promptIds)) {
    ids = whole.slice(promptIds.length);
  } else {
    ids = anchored(model, continuation);
    warnings.push(
      `The answer was tokenized on its own (after a line break): in this tokenizer the prompt's last token${prompt ? '' : ' (of the exact prompt ids)'} ` +
        `does not end where the answer begins, so prompt + answer would not split into the prompt's tokens followed by the answer's.`,
    );
  }
  const unknown = unknownPositions(model, ids, answer);
  if (unknown.length > 0) {
    warnings.push(
      `The supplied answer maps to the unknown token ${tokenizer.decode([tokenizer.unk_token_id!], { skip_special_tokens: false })} (id ${tokenizer.unk_token_id}) ` +
        `at answer token${unknown.length > 1 ? 's' : ''} ${unknown.map((i) => i + 1).join(', ')} of ${ids.length}: that text is not in the model's vocabulary, ` +
        `so it is explained as the unknown token. Check the answer's spelling and spacing, or give exact answer ids.`,
    );
  }
  return { ids, warnings };
}

/** The text that follows the prompt: the template's separator and the answer (chat), or the answer as given. */
export function continuationText(model: PromptModel, prompt: PromptText | undefined, answer: string): string {
  if (!prompt?.messages) return answer;
  const core = answer.trim();
  if (core === '') return answer;
  let rendered: string;
  try {
    rendered = model.tokenizer.apply_chat_template([...prompt.messages, { role: 'assistant', content: core }], { tokenize: false, add_generation_prompt: false }) as string;
  } catch {
    return answer; // templates may refuse a trailing assistant turn; the answer then follows as given
  }
  const at = rendered.startsWith(prompt.text) ? rendered.indexOf(core, prompt.text.length) : -1;
  if (at < 0) return answer;
  const gap = rendered.slice(prompt.text.length, at);
  // Only whitespace is taken from the template: anything else there (Qwen3's empty <think></think> block) is the
  // template's, not part of the user's answer.
  return /^\s*$/.test(gap) ? gap + answer.trimStart() : answer.trimStart();
}

/** Tokens of `text` in mid-text position: encoded after ANCHOR, whose tokens are then dropped. */
function anchored(model: PromptModel, text: string): number[] {
  const anchor = model.tokenizer.encode(ANCHOR, { add_special_tokens: false });
  const whole = model.tokenizer.encode(ANCHOR + text, { add_special_tokens: false });
  return startsWith(whole, anchor) ? whole.slice(anchor.length) : model.tokenizer.encode(text, { add_special_tokens: false });
}

/** Answer positions holding the unknown token although the answer does not spell that token out. */
function unknownPositions(model: PromptModel, ids: number[], answer: string): number[] {
  const unk = model.tokenizer.unk_token_id;
  if (unk === undefined || unk === null) return [];
  // GPT-2 names <|endoftext|> its unk token: byte-level BPE never maps text to it unless the text spells it.
  const spelled = model.tokenizer.decode([unk], { skip_special_tokens: false });
  if (spelled && answer.includes(spelled)) return [];
  return ids.flatMap((id, i) => (id === unk ? [i] : []));
}
