// Datasets for batch runs: JSON Lines, one item per line, validated in full before anything runs.
//
// Dataset format (README copy):
//
//   One JSON object per line; blank lines are skipped. Fields:
//     id        string or integer, optional — names the item; unique in the file. Without it the item is
//               known by a hash of its content (so editing a line makes it a new item).
//     messages  [{"role": "user", "content": "..."}, ...]  — chat messages, or
//     prompt    "..."                                       — one text (exactly one of messages / prompt)
//     system    "..." optional system prompt
//     task      chat | completion | question_answering | translation | summarization (default chat;
//               "completion" sends `prompt` as raw text without the chat template)
//     answer    "..." optional expected answer / label: the model is teacher-forced on it (explains why the
//               label is likely); without it the answer is generated
//     segments  optional user-marked prompt spans, either
//                 {"name": "exact substring", "other": ["substring", "substring"]}  or
//                 [{"name": "hours", "text": "9 to 5"}, {"name": "q", "field": "message:0", "start": 10, "end": 42}]
//               (field: "system", "prompt" or "message:<index>"; start/end are character offsets in it).
//               Names: letters, digits, _ . - (up to 64). Each span must occur in the item's texts.
//   Automatic segments need no marking: system, user, question, template, and data — the text between
//   [DATA] and [/DATA] markers written in a message or prompt (the markers stay in the prompt).
//
//   {"id": "hours-1", "system": "Answer briefly.", "messages": [{"role": "user", "content": "[DATA]Support is open 9 to 5.[/DATA] When is support open?"}], "answer": "9 to 5"}
//   {"prompt": "The capital of France is", "task": "completion", "segments": {"country": "France"}}
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TASK_TYPES, type ChatMessage, type TaskType } from '../../shared/run';
import type { MarkedSpan } from './segments';

/** Tag prefix that records which dataset item a run explains (`item:<key>`). */
export const ITEM_TAG_PREFIX = 'item:';

/** One validated dataset item. */
export interface DatasetItem {
  /** Stable key: the item's id, or "#" + 16 hex digits of its content hash. */
  key: string;
  /** 1-based line in the file. */
  line: number;
  id?: string;
  task: TaskType;
  system?: string;
  messages?: ChatMessage[];
  prompt?: string;
  answer?: string;
  spans: MarkedSpan[];
}

export interface DatasetProblem {
  line: number;
  message: string;
}

/** A dataset with bad lines; `problems` lists every one (the message shows the first few). */
export class DatasetError extends Error {
  readonly code = 'invalid_dataset';
  readonly problems: DatasetProblem[];

  constructor(source: string, problems: DatasetProblem[]) {
    const shown = problems.slice(0, 5).map((p) => `${source}:${p.line}: ${p.message}`);
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    super(problems.length === 0 ? `${source}: the dataset has no items` : `${shown.join('; ')}${more}`);
    this.name = 'DatasetError';
    this.problems = problems;
  }
}

const FIELDS = ['id', 'messages', 'prompt', 'system', 'task', 'answer', 'segments'];
const SEGMENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Ids become tags "item:<id>", and tags hold at most 200 characters. */
const MAX_ID_LENGTH = 180;

/** Reads and validates a JSONL dataset file; throws DatasetError naming every bad line. */
export async function readDataset(path: string): Promise<DatasetItem[]> {
  return parseDataset(await readDatasetText(path), path);
}

/** The text of a dataset file; an unreadable file is a DatasetError naming it. */
export async function readDatasetText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new DatasetError(path, [{ line: 0, message: `cannot read the file (${(error as Error).message.split('\n')[0]})` }]);
  }
}

/**
 * Parses JSONL dataset text. Every line is checked; all problems are reported together.
 *
 * @example parseDataset('{"id": "a", "prompt": "Hi"}\n{"prompt": 3}', 'set.jsonl')
 * // throws DatasetError: 'set.jsonl:2: "prompt" must be a non-empty string'
 */
export function parseDataset(text: string, source = 'dataset'): DatasetItem[] {
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      problems.push({ line, message: `not valid JSON (${(error as Error).message.split('\n')[0]})` });
      return;
    }
    const result = validateItem(value, line);
    if (typeof result === 'string') {
      problems.push({ line, message: result });
      return;
    }
    const first = seen.get(result.key);
    if (first !== undefined) {
      problems.push({ line, message: result.id !== undefined ? `id "${result.id}" is used on line ${first} already` : `same item as line ${first}; give one of them an "id"` });
      return;
    }
    seen.set(result.key, line);
    items.push(result);
  });
  if (problems.length > 0 || items.length === 0) throw new DatasetError(source, problems);
  return items;
}

/** One line's object → a DatasetItem, or the problem as text. */
function validateItem(value: unknown, line: number): DatasetItem | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'each line must be a JSON object';
  const item = value as Record<string, unknown>;
  const unknown = Object.keys(item).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) return `unknown field "${unknown[0]}"; fields are ${FIELDS.join(', ')}`;

  let id: string | undefined;
  if (item.id !== undefined) {
    if (Number.isSafeInteger(item.id)) id = String(item.id);
    else if (typeof item.id === 'string' && item.id.trim() !== '' && item.id.length <= MAX_ID_LENGTH) id = item.id.trim();
    else return `"id" must be an integer or a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  }
  if ((item.messages === undefined) === (item.prompt === undefined)) return 'give exactly one of "messages" and "prompt"';
  let messages: ChatMessage[] | undefined;
  if (item.messages !== undefined) {
    const list = item.messages;
    if (!Array.isArray(list) || list.length === 0) return '"messages" must be a non-empty list of {"role", "content"}';
    for (const [i, message] of list.entries()) {
      const m = message as Record<string, unknown> | null;
      if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || m.role === '' || typeof m.content !== 'string') {
        return `messages[${i}] must be {"role": "user", "content": "..."}`;
      }
    }
    messages = list.map((m: ChatMessage) => ({ role: m.role, content: m.content }));
  }
  if (item.prompt !== undefined && (typeof item.prompt !== 'string' || item.prompt === '')) return '"prompt" must be a non-empty string';
  if (item.system !== undefined && typeof item.system !== 'string') return '"system" must be a string';
  if (item.answer !== undefined && (typeof item.answer !== 'string' || item.answer === '')) return '"answer" must be a non-empty string';
  if (item.task !== undefined && !(TASK_TYPES as readonly unknown[]).includes(item.task)) return `"task" must be one of ${TASK_TYPES.join(', ')}`;
  const task = (item.task as TaskType | undefined) ?? 'chat';

  const fields: Record<string, string> = {};
  if (typeof item.system === 'string' && item.system !== '') fields.system = item.system;
  if (typeof item.prompt === 'string') fields.prompt = item.prompt;
  messages?.forEach((m, i) => (fields[`message:${i}`] = m.content));
  const spans = validateSegments(item.segments, fields);
  if (typeof spans === 'string') return spans;

  const parsed: Omit<DatasetItem, 'key' | 'line'> = { task, spans };
  if (id !== undefined) parsed.id = id;
  if (typeof item.system === 'string' && item.system !== '') parsed.system = item.system;
  if (messages) parsed.messages = messages;
  if (typeof item.prompt === 'string') parsed.prompt = item.prompt;
  if (typeof item.answer === 'string') parsed.answer = item.answer;
  return { key: id ?? `#${contentHash(parsed)}`, line, ...parsed };
}

function validateSegments(value: unknown, fields: Record<string, string>): MarkedSpan[] | string {
  if (value === undefined) return [];
  const spans: MarkedSpan[] = [];
  const all = Object.values(fields);
  const occurs = (text: string, field?: string) => (field === undefined ? all.some((f) => f.includes(text)) : fields[field].includes(text));
  const add = (name: unknown, text: unknown, field?: string): string | undefined => {
    if (typeof name !== 'string' || !SEGMENT_NAME.test(name)) return `segment name ${JSON.stringify(name)} must be 1–64 letters, digits, "_", "." or "-"`;
    if (typeof text !== 'string' || text.trim() === '') return `segment "${name}" needs a non-empty text`;
    if (!occurs(text, field)) return `segment "${name}": ${JSON.stringify(excerpt(text))} does not occur in ${field ?? 'the item\'s system, prompt or messages'}`;
    spans.push(field === undefined ? { name, text } : { name, text, field });
    return undefined;
  };
  if (Array.isArray(value)) {
    for (const [i, entry] of value.entries()) {
      const span = entry as Record<string, unknown> | null;
      if (typeof span !== 'object' || span === null) return `segments[${i}] must be {"name", "text"} or {"name", "field", "start", "end"}`;
      if (span.field === undefined) {
        const problem = add(span.name, span.text);
        if (problem) return problem;
        continue;
      }
      if (typeof span.field !== 'string' || fields[span.field] === undefined) {
        return `segments[${i}]: field must be one of ${Object.keys(fields).join(', ')}`;
      }
      const length = fields[span.field].length;
      const { start, end } = span;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) <= (start as number) || (end as number) > length) {
        return `segments[${i}]: start and end must be character offsets with 0 ≤ start < end ≤ ${length} (the length of ${span.field})`;
      }
      const problem = add(span.name, fields[span.field].slice(start as number, end as number), span.field);
      if (problem) return problem;
    }
    return spans;
  }
  if (typeof value !== 'object' || value === null) return '"segments" must be an object {"name": "substring"} or a list';
  for (const [name, texts] of Object.entries(value as Record<string, unknown>)) {
    for (const text of Array.isArray(texts) ? texts : [texts]) {
      const problem = add(name, text);
      if (problem) return problem;
    }
  }
  return spans;
}

function excerpt(text: string): string {
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** Hash of an item's content with keys sorted, so formatting and key order do not change it. */
function contentHash(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : typeof v === 'object' && v !== null
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
      : v;
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex').slice(0, 16);
}
