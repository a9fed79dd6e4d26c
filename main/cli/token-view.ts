// The terminal view of a run: prompt and answer tokens painted with one method's values (the app's token
// chips, in ANSI colour), wrapped at the terminal width without splitting a token, and a one-line legend.
// The values come from shared/token-values and the colours from shared/color-scale, the same code the app's
// run view uses, so the terminal and the app never disagree about a token.
import { displayedRange, readableTextColor, scaleColor, scaleFor, type ColorScale } from '../../shared/color-scale';
import type { RunJson } from '../../shared/run';
import {
  VIEW_METHOD_LABELS,
  VIEW_METHODS,
  answerLength,
  availableViewMethods,
  displayToken,
  tokenValues,
  valueRange,
  type AnswerFocus,
  type ViewMethod,
} from '../../shared/token-values';
import { attributionEntry } from '../../shared/method-catalog';
import { groupOf, groupedValues, runGrouping, type Group } from '../../shared/word-view';
import { paint, type ColorDepth } from './ansi';
import { displayWidth } from './text-width';

/** What to draw: which method, which answer token (or the whole answer), at which colour depth and width. */
export interface TokenViewSettings {
  method: ViewMethod;
  focus: AnswerFocus;
  depth: ColorDepth;
  /** Columns to wrap at. */
  width: number;
  /** One chip per word (the tokenizer's word boundaries) instead of per token: values summed per word (--words). */
  words?: boolean;
}

/** The names `--view` takes (the catalog's view names); `attention` and `rollout` are the two attention aggregations. */
export const VIEW_NAMES: Readonly<Record<string, ViewMethod>> = Object.freeze({
  ...Object.fromEntries(VIEW_METHODS.map((method) => [attributionEntry(method).viewName, method])),
  ...Object.fromEntries(VIEW_METHODS.map((method) => [method, method])),
});

/** The short name of a view method, as `--view` spells it. */
export function viewName(method: ViewMethod): string {
  return attributionEntry(method).viewName;
}

/** Cells of the legend's colour bar. */
const LEGEND_CELLS = 24;

/** The run method that produces a view method's values (attention's two aggregations both come from `attention`). */
export function sourceMethod(method: ViewMethod): string {
  return attributionEntry(method).method;
}

/**
 * The view a run opens on: its first method (in the order it was asked for) that holds values, else the first
 * view with values; undefined when the run has none (a failed run).
 * @example defaultViewMethod({methods: ['saliency', 'attention'], …}) // 'saliency'
 */
export function defaultViewMethod(run: RunJson): ViewMethod | undefined {
  const available = availableViewMethods(run);
  for (const method of run.methods) {
    const view = available.find((candidate) => sourceMethod(candidate) === method);
    if (view) return view;
  }
  return available[0];
}

/** C0 and C1 control characters other than the newline and tab that displayToken already shows. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * A token as the terminal shows it: whitespace made visible (↵, ⇥, ·) like the app's chips, and every other
 * control character replaced by its visible symbol (␛ for ESC), so model output can never send the terminal
 * an escape sequence of its own.
 * @example terminalToken(' hi\x1b[2J') // '·hi␛[2J'
 */
export function terminalToken(text: string): string {
  return displayToken(text).replace(CONTROL, (character) => {
    const code = character.charCodeAt(0);
    return code === 0x7f ? '␡' : code < 0x20 ? String.fromCharCode(0x2400 + code) : '�';
  });
}

function formatValue(value: number): string {
  if (value === 0) return '0';
  return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4 ? String(Number(value.toPrecision(3))) : value.toExponential(2);
}

interface Chip {
  text: string;
  width: number;
  /** The chip ends a line of the original text, so the view starts a new line after it. */
  lineBreak: boolean;
  painted: string;
}

/** Chips of groups (tokens, or words with --words); `focusGroup` is the group of the explained answer token. */
function chipsOf(groups: readonly Group[], indices: number[], values: (number | null)[], scale: ColorScale, range: [number, number], focusGroup: number, settings: TokenViewSettings): Chip[] {
  return indices.map((index) => {
    const raw = groups[index]?.text ?? '';
    const value = values[index] ?? null;
    const focused = index === focusGroup;
    let text = terminalToken(raw);
    // Without colour the explained token is bracketed; with colour it is bold and underlined.
    if (focused && settings.depth === 'none') text = `[${text}]`;
    const background = value === null ? undefined : scaleColor(scale, value, range[0], range[1]);
    const painted = paint(
      text,
      { background, foreground: background && readableTextColor(background), bold: focused, underline: focused, dim: value === null && !focused },
      settings.depth,
    );
    return { text, width: displayWidth(text), lineBreak: raw.includes('\n'), painted };
  });
}

/**
 * Chips laid out in lines of at most `width` columns, one space apart; a chip never splits (a chip wider than
 * the line gets a line of its own), and a chip holding a newline ends its line, as the text did.
 */
export function wrapChips(chips: readonly Pick<Chip, 'width' | 'lineBreak' | 'painted'>[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  let used = 0;
  for (const chip of chips) {
    if (used > 0 && used + 1 + chip.width > width) {
      lines.push(line);
      line = '';
      used = 0;
    }
    line += (used > 0 ? ' ' : '') + chip.painted;
    used += (used > 0 ? 1 : 0) + chip.width;
    if (chip.lineBreak) {
      lines.push(line);
      line = '';
      used = 0;
    }
  }
  if (used > 0) lines.push(line);
  return lines;
}

/**
 * The one-line legend: method and focus, the colour bar between the ends of the displayed range, and the range
 * of the values. On a narrow terminal the range note goes first, then the bar shrinks (to 8 cells), so the
 * legend stays one line.
 */
function legendLine(label: string, scale: ColorScale, range: [number, number], data: [number, number], settings: Pick<TokenViewSettings, 'depth' | 'width'>): string {
  const [low, high] = displayedRange(scale, range[0], range[1]);
  const values = `values ${formatValue(data[0])} … ${formatValue(data[1])}`;
  if (settings.depth === 'none') {
    const plain = `${label}: ${values}`;
    const hint = ' (no colour; --color always to paint them)';
    return displayWidth(plain + hint) <= settings.width ? plain + hint : plain;
  }
  const ends = `${label}: ${formatValue(low)}  ${formatValue(high)}`;
  const note = `  (${values}${scale.kind === 'diverging' ? ', 0 pale' : ''})`;
  const withNote = displayWidth(ends + note) + LEGEND_CELLS <= settings.width;
  const cells = withNote ? LEGEND_CELLS : Math.max(8, Math.min(LEGEND_CELLS, settings.width - displayWidth(ends)));
  let bar = '';
  for (let cell = 0; cell < cells; cell++) {
    const value = low + ((high - low) * (cell + 0.5)) / cells;
    bar += paint(' ', { background: scaleColor(scale, value, range[0], range[1]) }, settings.depth);
  }
  return `${label}: ${formatValue(low)} ${bar} ${formatValue(high)}${withNote ? note : ''}`;
}

/**
 * The whole terminal view as text with ANSI sequences (none at depth `none`), ending in a newline.
 * @example renderTokenView(run, {method: 'saliency', focus: 'sequence', depth: 'none', width: 80})
 * // 'Saliency — whole answer\nprompt  26 tokens\n<s> user: [DATA] ↵\n…\nsaliency, whole answer: values 0 … 0.41 (no colour; …)\n'
 */
export function renderTokenView(run: RunJson, settings: TokenViewSettings): string {
  const grouping = runGrouping(run, settings.words ? 'words' : 'tokens');
  const { values, signed, note } = settings.words ? groupedValues(run, settings.method, settings.focus, grouping) : tokenValues(run, settings.method, settings.focus);
  const scale = scaleFor(signed);
  const range = valueRange(values, signed);
  const data = valueRange(values, true);
  const unit = settings.words ? 'words' : 'tokens';
  const promptGroups = Array.from({ length: grouping.promptGroups }, (_, index) => index);
  const answerGroups = Array.from({ length: grouping.groups.length - grouping.promptGroups }, (_, index) => grouping.promptGroups + index);
  const focusGroup = settings.focus === 'sequence' ? -1 : groupOf(grouping.groups, run.promptLength + settings.focus);
  const focusText = JSON.stringify(settings.focus === 'sequence' ? '' : run.tokens.text[run.promptLength + settings.focus] ?? '');
  const focusLabel =
    settings.focus === 'sequence'
      ? 'whole answer'
      : settings.words
        ? `answer word ${JSON.stringify(grouping.groups[focusGroup]?.text ?? '')} (its tokens' rows averaged; token ${settings.focus} ${focusText})`
        : `answer token ${settings.focus} ${focusText}`;
  const heading = (text: string) => paint(text, { bold: true }, settings.depth);
  const lines = [
    heading(`${VIEW_METHOD_LABELS[settings.method]} — ${focusLabel}`),
    heading(`prompt  ${promptGroups.length} ${unit}`),
    ...wrapChips(chipsOf(grouping.groups, promptGroups, values, scale, range, focusGroup, settings), settings.width),
    heading(`answer  ${answerGroups.length} ${unit}`),
    ...wrapChips(chipsOf(grouping.groups, answerGroups, values, scale, range, focusGroup, settings), settings.width),
    legendLine(`${viewName(settings.method)}, ${settings.focus === 'sequence' ? 'whole answer' : `token ${settings.focus}`}${settings.words ? ', by words (sums)' : ''}`, scale, range, data, settings),
  ];
  if (note) lines.push(note);
  return lines.join('\n') + '\n';
}
