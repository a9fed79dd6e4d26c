// Assisted generation compares the two models' next-token distributions id by id, which only means something
// when both read token ids the same way. This check runs before anything is loaded (file reads only, no
// onnxruntime), so every door can refuse a mismatched pair up front with one line naming both models.
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * The files that decide what a token id means. tokenizer_config.json is left out on purpose: it also holds
 * the chat template and length limits, which do not change ids, and the prompt is tokenized by the main
 * model alone. A file present in only one of the folders counts as a difference.
 */
export const VOCABULARY_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'special_tokens_map.json', 'added_tokens.json'] as const;

/** A main/assistant pair that cannot work together; `code` is the API's invalid_argument. */
export class AssistantModelError extends Error {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'AssistantModelError';
  }
}

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Throws AssistantModelError unless `assistantPath` is a folder whose vocabulary files are byte-identical to
 * `mainPath`'s.
 * Example: checkAssistantModel('/m/llama', '/m/gpt2') → throws "the assistant model gpt2 (/m/gpt2) has a
 * different vocabulary from the main model llama (/m/llama): tokenizer.json differs; …".
 */
export async function checkAssistantModel(mainPath: string, assistantPath: string): Promise<void> {
  const folder = await stat(assistantPath).catch(() => undefined);
  if (!folder?.isDirectory()) throw new AssistantModelError(`the assistant model folder ${assistantPath} does not exist`);
  for (const file of VOCABULARY_FILES) {
    const [main, assistant] = await Promise.all([readOrUndefined(join(mainPath, file)), readOrUndefined(join(assistantPath, file))]);
    if (main === undefined && assistant === undefined) continue;
    if (main !== undefined && assistant !== undefined && main.equals(assistant)) continue;
    const how = main === undefined || assistant === undefined ? `only one of them has ${file}` : `${file} differs`;
    throw new AssistantModelError(
      `the assistant model ${basename(assistantPath)} (${assistantPath}) has a different vocabulary from the main model ` +
        `${basename(mainPath)} (${mainPath}): ${how}; assisted generation needs identical tokenizer files`,
    );
  }
}
