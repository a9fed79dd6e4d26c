// The source text an encoder-decoder model reads. There is no chat template: the prompt (or the last user message,
// after the system text) is the source, and the task decides the rendering — where config.json's
// task_specific_params names a prefix for the task (T5: "summarize: ", "translate English to German: "), the text
// gets it unless it already starts with it.
import type { ChatMessage, TaskType } from '../../../shared/run';
import type { Seq2SeqConfig } from './config';

/** task_specific_params keys that serve each task type, in order of preference. */
const TASK_KEYS: Partial<Record<TaskType, RegExp>> = {
  summarization: /^summarization/,
  translation: /^translation/,
  question_answering: /^question_answering|^qa/,
};

/** The prefix the config names for a task, if any. Example: T5 and 'translation' → "translate English to German: ". */
export function taskPrefix(config: Pick<Seq2SeqConfig, 'taskPrefixes'>, task: TaskType): string | undefined {
  const pattern = TASK_KEYS[task];
  if (!pattern) return undefined;
  const key = Object.keys(config.taskPrefixes).find((name) => pattern.test(name));
  return key === undefined ? undefined : config.taskPrefixes[key];
}

export interface SourceRequest {
  task: TaskType;
  prompt?: string;
  system?: string;
  messages?: ChatMessage[];
}

/**
 * The rendered source text. Example: `renderSource(t5Config, {task: 'summarization', prompt: 'The cat sat.'})` →
 * "summarize: The cat sat."; `{task: 'chat', messages: [{role: 'user', content: 'Hi'}]}` → "Hi".
 */
export function renderSource(config: Pick<Seq2SeqConfig, 'taskPrefixes'>, request: SourceRequest): string {
  const users = (request.messages ?? []).filter((message) => message.role === 'user');
  const body = request.prompt ?? users.at(-1)?.content ?? '';
  const system = request.system ?? request.messages?.find((message) => message.role === 'system')?.content;
  const text = system ? `${system}\n${body}` : body;
  const prefix = taskPrefix(config, request.task);
  return prefix && !text.startsWith(prefix) ? `${prefix}${text}` : text;
}
