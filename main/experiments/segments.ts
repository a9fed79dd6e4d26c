// Prompt segments of a run as token positions: found by character offsets in the decoded texts of the prompt
// tokens (tokens.text joined), so they work for every tokenizer and chat template.
//
// Automatic segments, computed from any run's input:
//   system    the system prompt
//   user      every user message (a completion run: the prompt)
//   data      text between [DATA] and [/DATA] markers (the markers stay in the prompt the model reads)
//   question  the last user message (or prompt) without its [DATA]…[/DATA] blocks: its last non-blank part
//   template  prompt tokens outside system and user (chat-template text, BOS)
// Marked segments come from a dataset item ({"segments": {"name": "exact substring"}}); the batch stores
// them as tensors `segment.<name>` ([col] masks) so aggregation and reruns find them again.
import type { RunJson } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import type { RunReader } from '../store/run-reader';
import type { RunStore } from '../store/run-store';
import { segmentPositions, type PromptSegment, type TokenRange } from '../../shared/experiment-math';

export const DATA_OPEN = '[DATA]';
export const DATA_CLOSE = '[/DATA]';
/** Tensor name prefix of stored marked segments. */
export const SEGMENT_TENSOR_PREFIX = 'segment.';
export const AUTOMATIC_SEGMENTS = ['system', 'user', 'data', 'question', 'template'] as const;

/** A span the user marked: its text, optionally searched from the start of one input field. */
export interface MarkedSpan {
  name: string;
  text: string;
  /** "system", "prompt" or "message:<index>": search from where that field's text lies in the prompt. */
  field?: string;
}

type SegmentRun = Pick<RunJson, 'input' | 'tokens' | 'promptLength'>;

/** The prompt tokens' texts joined, with each token's first character offset (offsets has P + 1 entries). */
class PromptText {
  readonly text: string;
  readonly offsets: number[];
  private compact?: { text: string; origin: number[] };

  constructor(texts: readonly string[]) {
    this.offsets = [0];
    for (const piece of texts) this.offsets.push(this.offsets[this.offsets.length - 1] + piece.length);
    this.text = texts.join('');
  }

  /**
   * Character range of `needle` at or after `from`: exact first, then ignoring white space (tokenizers
   * normalise spaces and newlines differently). Undefined when absent.
   */
  find(needle: string, from = 0): { start: number; end: number } | undefined {
    if (needle.length === 0) return undefined;
    const exact = this.text.indexOf(needle, from);
    if (exact >= 0) return { start: exact, end: exact + needle.length };
    const squeezed = needle.replace(/\s+/g, '');
    if (squeezed.length === 0) return undefined;
    this.compact ??= squeeze(this.text);
    const { text, origin } = this.compact;
    let compactFrom = origin.findIndex((index) => index >= from);
    if (compactFrom < 0) return undefined;
    const at = text.indexOf(squeezed, compactFrom);
    if (at < 0) return undefined;
    return { start: origin[at], end: origin[at + squeezed.length - 1] + 1 };
  }

  /** Tokens whose text overlaps the character range [start, end). */
  tokens(start: number, end: number): TokenRange | undefined {
    let first = -1;
    let last = -1;
    for (let i = 0; i + 1 < this.offsets.length; i++) {
      const a = this.offsets[i];
      const b = this.offsets[i + 1];
      if (b > a && a < end && b > start) {
        if (first < 0) first = i;
        last = i;
      }
    }
    return first < 0 ? undefined : [first, last + 1];
  }
}

function squeeze(text: string): { text: string; origin: number[] } {
  let out = '';
  const origin: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (/\s/.test(text[i])) continue;
    out += text[i];
    origin.push(i);
  }
  return { text: out, origin };
}

/** [DATA]…[/DATA] inner texts of a text, and its parts outside those blocks. */
export function splitDataBlocks(text: string): { data: string[]; outside: string[] } {
  const data: string[] = [];
  const outside: string[] = [];
  let rest = text;
  for (;;) {
    const open = rest.indexOf(DATA_OPEN);
    const close = open < 0 ? -1 : rest.indexOf(DATA_CLOSE, open + DATA_OPEN.length);
    if (open < 0 || close < 0) break;
    outside.push(rest.slice(0, open));
    data.push(rest.slice(open + DATA_OPEN.length, close));
    rest = rest.slice(close + DATA_CLOSE.length);
  }
  outside.push(rest);
  return { data, outside };
}

/** The input fields in prompt order, each with the name a MarkedSpan.field uses. */
function inputFields(run: SegmentRun): { field: string; role: string; text: string }[] {
  const fields: { field: string; role: string; text: string }[] = [];
  if (run.input.system) fields.push({ field: 'system', role: 'system', text: run.input.system });
  (run.input.messages ?? []).forEach((message, index) => fields.push({ field: `message:${index}`, role: message.role, text: message.content }));
  if (run.input.prompt !== undefined && !(run.input.messages?.length)) fields.push({ field: 'prompt', role: 'user', text: run.input.prompt });
  return fields;
}

/** Where each input field starts in the prompt text (searched in order; undefined when not found). */
function locateFields(prompt: PromptText, run: SegmentRun) {
  let cursor = 0;
  return inputFields(run).map((field) => {
    const found = prompt.find(field.text, cursor) ?? prompt.find(field.text, 0);
    if (found) cursor = found.end;
    return { ...field, found };
  });
}

function promptTextOf(run: SegmentRun): PromptText {
  return new PromptText(run.tokens.text.slice(0, run.promptLength));
}

/**
 * The automatic segments of a run (those that are empty are left out).
 *
 * @example automaticSegments(run) // chat run with system "Be brief." →
 * // [{name: 'system', kind: 'auto', ranges: [[8, 11]]}, {name: 'user', …}, {name: 'data', …}, {name: 'question', …}, {name: 'template', …}]
 */
export function automaticSegments(run: SegmentRun): PromptSegment[] {
  const prompt = promptTextOf(run);
  const located = locateFields(prompt, run);
  const ranges: Record<(typeof AUTOMATIC_SEGMENTS)[number], [number, number][]> = { system: [], user: [], data: [], question: [], template: [] };
  const lastUser = located.map((f) => f.role).lastIndexOf('user');
  located.forEach((field, index) => {
    if (!field.found) return;
    const own = prompt.tokens(field.found.start, field.found.end);
    if (!own) return;
    if (field.role === 'system') ranges.system.push([...own]);
    if (field.role === 'user') ranges.user.push([...own]);
    const blocks = splitDataBlocks(field.text);
    let cursor = field.found.start;
    for (const data of blocks.data) {
      const at = prompt.find(data, cursor);
      const tokens = at && prompt.tokens(at.start, at.end);
      if (tokens) (ranges.data.push([...tokens]), (cursor = at.end));
    }
    if (index === lastUser) {
      const question = [...blocks.outside].reverse().find((part) => part.trim() !== '')?.trim();
      const at = question === undefined ? undefined : prompt.find(question, field.found.start);
      const tokens = at && prompt.tokens(at.start, at.end);
      if (tokens) ranges.question.push([...tokens]);
    }
  });
  const covered = new Set(segmentPositions({ ranges: [...ranges.system, ...ranges.user] }));
  for (let i = 0; i < run.promptLength; i++) {
    if (covered.has(i)) continue;
    const last = ranges.template[ranges.template.length - 1];
    if (last && last[1] === i) last[1] = i + 1;
    else ranges.template.push([i, i + 1]);
  }
  return AUTOMATIC_SEGMENTS.filter((name) => ranges[name].length > 0).map((name) => ({ name, kind: 'auto' as const, ranges: ranges[name].map(([a, b]) => [a, b] as const) }));
}

/**
 * Locates marked spans in a run's prompt tokens. Each span's first occurrence (after its field's start, when
 * a field is named) becomes a token range; spans of one name form one segment. Spans not found are listed.
 */
export function markedSegments(run: SegmentRun, spans: readonly MarkedSpan[]): { segments: PromptSegment[]; missing: MarkedSpan[] } {
  const prompt = promptTextOf(run);
  const fields = locateFields(prompt, run);
  const byName = new Map<string, TokenRange[]>();
  const missing: MarkedSpan[] = [];
  for (const span of spans) {
    const from = span.field === undefined ? 0 : fields.find((f) => f.field === span.field)?.found?.start;
    const at = from === undefined ? undefined : prompt.find(span.text, from);
    const tokens = at && prompt.tokens(at.start, at.end);
    if (!tokens) {
      missing.push(span);
      continue;
    }
    byName.set(span.name, [...(byName.get(span.name) ?? []), tokens]);
  }
  return { segments: [...byName].map(([name, ranges]) => ({ name, kind: 'marked', ranges })), missing };
}

/** Marked segments as [col] masks over the whole sequence (1 inside), for RunStore.putTensors. */
export function segmentTensors(segments: readonly PromptSegment[], length: number): NamedTensor[] {
  return segments
    .filter((segment) => segment.kind === 'marked')
    .map((segment) => {
      const data = new Float32Array(length);
      for (const position of segmentPositions(segment, length)) data[position] = 1;
      return { name: SEGMENT_TENSOR_PREFIX + segment.name, axes: ['col'], shape: [length], data, encoding: 'float32' };
    });
}

/** A stored mask back to a marked segment (contiguous runs of 1 become ranges). */
export function segmentFromMask(name: string, mask: ArrayLike<number>): PromptSegment {
  const ranges: TokenRange[] = [];
  let start = -1;
  for (let i = 0; i <= mask.length; i++) {
    const inside = i < mask.length && mask[i] > 0.5;
    if (inside && start < 0) start = i;
    if (!inside && start >= 0) (ranges.push([start, i]), (start = -1));
  }
  return { name, kind: 'marked', ranges };
}

/** The text of each range of a segment (token texts joined, trimmed): what a rerun searches for again. */
export function segmentTexts(run: Pick<RunJson, 'tokens'>, segment: PromptSegment): string[] {
  return segment.ranges.map(([start, end]) => run.tokens.text.slice(start, end).join('').trim()).filter((text) => text !== '');
}

/** Automatic segments with marked ones added; a marked segment replaces an automatic one of the same name. */
export function mergeSegments(automatic: readonly PromptSegment[], marked: readonly PromptSegment[]): PromptSegment[] {
  const names = new Set(marked.map((segment) => segment.name));
  return [...automatic.filter((segment) => !names.has(segment.name)), ...marked];
}

/**
 * Locates marked spans in a finished run and stores them as `segment.<name>` masks. Returns warnings for
 * spans that are not in the run's prompt tokens.
 */
export function storeMarkedSegments(store: RunStore, run: RunJson, spans: readonly MarkedSpan[], key: string): string[] {
  if (spans.length === 0) return [];
  const { segments, missing } = markedSegments(run, spans);
  if (segments.length > 0) store.putTensors(run.id, segmentTensors(segments, run.tokens.ids.length));
  return missing.map((span) => `${key}: segment "${span.name}" text ${JSON.stringify(span.text.slice(0, 40))} was not found in run ${run.id}'s prompt tokens`);
}

/** Whether a run has stored marked segments. */
export function hasMarkedSegments(store: RunReader, runId: string): boolean {
  return store.tensorInfo(runId).some((info) => info.name.startsWith(SEGMENT_TENSOR_PREFIX));
}
