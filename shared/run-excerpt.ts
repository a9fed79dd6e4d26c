// The prompt and answer excerpts of the runs list: one definition for the store (which keeps them in columns
// for search and sorting) and the report's static client (which summarizes embedded runs), so a report's run
// list reads exactly like the app's.
import type { RunInput } from './run';

/** Characters kept in the list's prompt and answer excerpts. */
export const EXCERPT_LENGTH = 160;

/**
 * Whitespace collapsed, cut to {@link EXCERPT_LENGTH} characters with an ellipsis.
 * @example excerpt('a\n  b') // → 'a b'
 */
export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= EXCERPT_LENGTH ? flat : `${flat.slice(0, EXCERPT_LENGTH - 1)}…`;
}

/**
 * The text the list shows as the prompt: the last user message, else the raw prompt, else any message, else
 * the prompt decoded from token ids.
 * @example promptExcerptOf({task: 'chat', messages: [{role: 'system', content: 's'}, {role: 'user', content: 'q'}]}) // → 'q'
 */
export function promptExcerptOf(input: RunInput): string {
  const messages = input.messages ?? [];
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  return excerpt(lastUser?.content ?? input.prompt ?? messages[messages.length - 1]?.content ?? input.decodedPrompt ?? '');
}
