// The terminal view's flags, shared by `explain` and `show`: --view, --answer-token, --color, --words.
import type { RunJson } from '../../shared/run';
import { answerLength, availableViewMethods, type ViewMethod } from '../../shared/token-values';
import { COLOR_CHOICES, colorDepth, type ColorChoice } from './ansi';
import { UsageError, choiceOption, intOption } from './args';
import { attributionId } from '../../shared/method-catalog';
import { VIEW_NAMES, defaultViewMethod, renderTokenView, sourceMethod, viewName } from './token-view';

export const VIEW_OPTIONS = {
  view: { type: 'string' },
  'answer-token': { type: 'string' },
  color: { type: 'string' },
  words: { type: 'boolean' },
} as const;

/** The usage text of the view flags; METHOD is one of VIEW_NAMES' keys or none. */
export const VIEW_USAGE = '[--view METHOD] [--answer-token N] [--words] [--color auto|always|never]';

/** What the flags asked for; `method` undefined means the run's first method, null means no view. */
export interface ViewFlags {
  method: ViewMethod | null | undefined;
  /** Index into the answer (0 = first answer token); undefined: the whole answer. */
  answerToken: number | undefined;
  color: ColorChoice;
  /** One chip per word instead of per token (values summed per word). */
  words: boolean;
}

/** Reads the view flags; bad values are UsageErrors. */
export function viewFlagsFromArgs(values: Record<string, unknown>): ViewFlags {
  const choices = [...Object.keys(VIEW_NAMES), 'none'];
  // Older spellings (`attention_mean`) still work in scripts; the usage lists only the current ones.
  const given = values.view as string | undefined;
  const legacy = given !== undefined && !choices.includes(given) ? attributionId(given) : undefined;
  const view = choiceOption('view', legacy ?? given, choices);
  return {
    method: view === undefined ? undefined : view === 'none' ? null : VIEW_NAMES[view],
    answerToken: intOption('answer-token', values['answer-token'] as string | undefined, 0),
    color: choiceOption('color', values.color as string | undefined, COLOR_CHOICES) ?? 'auto',
    words: values.words === true,
  };
}

/** Before a run starts: a --view whose method is not being computed can only fail later, so it fails now. */
export function checkViewAgainstMethods(flags: ViewFlags, methods: readonly string[]): void {
  if (!flags.method || methods.includes(sourceMethod(flags.method))) return;
  throw new UsageError(`--view ${viewName(flags.method)} needs --methods to include ${sourceMethod(flags.method)} (asked for: ${methods.join(', ')})`);
}

/**
 * The terminal view of a run for these flags and this stream, or '' when there is nothing to show (no view
 * asked for, or a run without values). A method or answer token the run does not have is a UsageError.
 */
export function tokenViewFor(run: RunJson, flags: ViewFlags, stream: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.method === null) return '';
  const available = availableViewMethods(run);
  const method = flags.method ?? defaultViewMethod(run);
  if (!method) return '';
  if (!available.includes(method)) {
    const has = available.length ? `it has: ${available.map(viewName).join(', ')}` : `it has none (status ${run.status})`;
    throw new UsageError(`--view ${viewName(method)}: run ${run.id} has no such values; ${has}`);
  }
  const count = answerLength(run);
  if (flags.answerToken !== undefined && flags.answerToken >= count) {
    throw new UsageError(`--answer-token ${flags.answerToken}: the answer of run ${run.id} has ${count} tokens (0 to ${count - 1})`);
  }
  const isTTY = Boolean(stream.isTTY);
  return renderTokenView(run, {
    method,
    focus: flags.answerToken ?? 'sequence',
    depth: colorDepth(flags.color, env, isTTY),
    // A pipe or file has no width; 80 columns keeps the output readable where it ends up.
    width: isTTY && stream.columns ? stream.columns : 80,
    words: flags.words,
  });
}
