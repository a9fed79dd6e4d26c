// Turns a run's input into the token sequence that is generated from and explained: the prompt (chat template
// for chat-style tasks, raw text for completion, or exact ids) followed by the answer (teacher forcing).
import type { ChatMessage, RunInput } from '../../shared/run';
import type { LoadedModel } from './model-folder';
import { wordStarts } from '../../shared/word-groups';
import { answerTokens, type PromptModel, type PromptText } from './answer-tokens';

/** Tasks whose prompt goes through the chat template (when the model has one). */
const CHAT_TASKS = new Set(['chat', 'question_answering', 'translation', 'summarization']);

/** A run input, optionally with exact prompt ids that bypass tokenizer and template. */
export type PromptInput = RunInput & { inputIds?: number[] };

export interface TokenSequence {
  /** Prompt ids followed by answer ids. */
  ids: number[];
  /** How many of `ids` are prompt; the rest are answer. */
  promptLength: number;
}

export type { PromptModel, PromptText };

function renderable(model: PromptModel, messages: ChatMessage[]): string | undefined {
  try {
    return model.tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true }) as string;
  } catch {
    return undefined; // templates raise for roles they do not support (e.g. "System role not supported")
  }
}

/**
 * Adds the system prompt: as a system message when the template renders one, otherwise prepended to the first
 * user message (templates such as Gemma's reject or silently drop the system role).
 */
export function withSystemPrompt(model: PromptModel, messages: ChatMessage[], system: string | undefined): ChatMessage[] {
  if (!system || messages.some((message) => message.role === 'system')) return messages;
  const asMessage = [{ role: 'system', content: system }, ...messages];
  const rendered = renderable(model, asMessage);
  if (rendered !== undefined && rendered.includes(system)) return asMessage;
  const firstUser = messages.findIndex((message) => message.role === 'user');
  if (firstUser < 0) return [{ role: 'user', content: system }, ...messages];
  return messages.map((message, index) =>
    index === firstUser ? { ...message, content: `${system}\n\n${message.content}` } : message,
  );
}

function chatMessages(input: PromptInput): ChatMessage[] {
  if (input.messages && input.messages.length > 0) return input.messages;
  if (input.prompt !== undefined) return [{ role: 'user', content: input.prompt }];
  throw new Error('The input has neither messages nor a prompt');
}

/** The text a run input's prompt is encoded from; undefined for exact prompt ids. */
export function promptText(model: PromptModel, input: PromptInput): PromptText | undefined {
  if (input.inputIds) return undefined;
  if (CHAT_TASKS.has(input.task) && model.chatTemplate) {
    const messages = withSystemPrompt(model, chatMessages(input), input.system);
    // What apply_chat_template(…, {tokenize: true}) encodes: the rendered text, without added special tokens.
    const text = model.tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true }) as string;
    return { text, specialTokens: false, messages };
  }
  // Completion, or a chat task on a model without a chat template: plain text, with the tokenizer's own
  // special tokens (BOS for Llama-style tokenizers, none for GPT-2).
  const text =
    input.messages && input.messages.length > 0
      ? [input.system, ...input.messages.map((message) => message.content)].filter(Boolean).join('\n\n')
      : [input.system, input.prompt ?? ''].filter(Boolean).join('\n\n');
  return { text, specialTokens: true };
}

/** Prompt ids for a run input (no answer). */
export function promptIds(model: PromptModel, input: PromptInput, prompt = promptText(model, input)): number[] {
  if (!prompt) return [...input.inputIds!];
  return model.tokenizer.encode(prompt.text, { add_special_tokens: prompt.specialTokens });
}

/**
 * The teacher-forced sequence: prompt ids, then answer ids — exact ids as given, or a text answer tokenized as
 * the continuation of the prompt (./answer-tokens).
 *
 * Example (GPT-2 tokenizer): `buildTokenSequence(model, {task: 'completion', prompt: 'Hello'}, ' world')` →
 * `{ids: [15496, 995], promptLength: 1}`.
 */
export function buildTokenSequence(model: PromptModel, input: PromptInput, answer?: string | number[]): TokenSequence {
  const text = promptText(model, input);
  const prompt = promptIds(model, input, text);
  const answerIds = answer === undefined ? [] : Array.isArray(answer) ? [...answer] : answerTokens(model, text, prompt, answer).ids;
  return { ids: [...prompt, ...answerIds], promptLength: prompt.length };
}

const piecesByTokenizer = new WeakMap<object, Map<number, string>>();

/** The tokenizer's raw token strings (▁world, Ġworld, ##ing), inverted from its vocabulary once per tokenizer. */
export function tokenPieces(model: Pick<LoadedModel, 'tokenizer'>, ids: readonly number[]): string[] {
  let pieces = piecesByTokenizer.get(model.tokenizer);
  if (!pieces) {
    pieces = new Map();
    for (const [token, id] of model.tokenizer.get_vocab()) pieces.set(id, token);
    piecesByTokenizer.set(model.tokenizer, pieces);
  }
  return ids.map((id) => pieces!.get(id) ?? '');
}

/** Whether each token starts a word by the tokenizer's own boundaries (stored as tokens.wordStarts). */
export function tokenWordStarts(model: Pick<LoadedModel, 'tokenizer'>, ids: readonly number[]): boolean[] {
  return wordStarts(tokenPieces(model, ids));
}

/**
 * Display text of each token. `decode([id])` alone drops SentencePiece's leading space ("▁world" → "world"),
 * so each token is decoded after its predecessor and the predecessor's text is cut off again.
 * Example (llama tokenizer): "Hello world" → ["<s>", " Hello", " world"].
 */
export function tokenTexts(model: Pick<LoadedModel, 'tokenizer'>, ids: number[]): string[] {
  const decode = (list: number[]) => model.tokenizer.decode(list, { skip_special_tokens: false });
  return ids.map((id, i) => {
    if (i === 0) return decode([id]);
    const previous = decode([ids[i - 1]]);
    const pair = decode([ids[i - 1], id]);
    return pair.startsWith(previous) ? pair.slice(previous.length) : decode([id]);
  });
}
