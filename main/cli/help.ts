// `llm-explainer COMMAND --help`: one command's usage, cut from the general help text (so a flag added to the
// usage there shows up here too), and what the command does.
import { ATTRIBUTION_CATALOG } from '../../shared/method-catalog';
import { methodList } from './method-flags';

const SIGNED_VIEWS = ATTRIBUTION_CATALOG.filter((entry) => entry.chips && entry.signed).map((entry) => entry.viewName).join(', ');

/** What each command does, below its usage lines. */
const DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  explain: `Generates an answer (or teacher-forces --answer / --answer-ids), explains it with --methods, stores the run
and prints its id, a summary and the prompt and answer tokens coloured by one method:
  --view METHOD       which values colour the tokens (default: the first of --methods; none: no token view)
  --answer-token N    the answer token to explain, 0 = the first (default: the whole answer)
  --words             one chip per word (the tokenizer's word boundaries): a word's value is the sum of its
                      tokens' values; with --answer-token, the rows of that token's whole answer word averaged
  --color WHEN        auto (only on a terminal, off when NO_COLOR is set), always or never; 24-bit colour
                      when COLORTERM is truecolor or 24bit, 256 colours otherwise
Signed methods (${SIGNED_VIEWS}) use the blue–orange diverging scale, the others cividis.
Without --model the built-in demo model is used. Unknown flags and bad values exit 2; failures exit 1.
Methods (--methods, comma-separated):
${methodList()}`,
  runs: 'Lists stored runs, newest first (--search matches prompt, answer, model, notes and tags).',
  show: `Prints one stored run: its summary and its tokens coloured by a method (--view, --answer-token, --words and --color
as for explain), or with --json the run JSON read back from the store (- for standard output).`,
  report: 'Writes one self-contained HTML report (no network) of runs or of a whole experiment.',
  batch: 'Runs a whole JSON Lines dataset into an experiment; resumable (README: Experiments).',
  rerun: 'Re-runs saved runs on another model folder, linked to the originals.',
  serve: 'Web mode: the workbench on 127.0.0.1 with a per-launch token in the printed URL.',
});

/** The commands that have their own help. */
export const HELP_COMMANDS = Object.freeze(Object.keys(DESCRIPTIONS));

/**
 * Whether the arguments ask for help: `--help` or `-h` anywhere before a `--` terminator.
 * @example wantsHelp(['--prompt', 'x', '--help']) // true
 */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/**
 * The help of one command: its usage lines from the general help, then its description.
 * @example commandHelp(HELP, 'runs') // 'Usage:\n  llm-explainer runs   [--db FILE] …\n\nLists stored runs, newest first …'
 */
export function commandHelp(help: string, command: string): string {
  const lines = help.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\s+llm-explainer ${command}\\b`).test(line));
  const usage: string[] = [];
  if (start >= 0) {
    usage.push(lines[start]);
    // Continuation lines are indented further than "llm-explainer"; the next command or a blank line ends the block.
    for (const line of lines.slice(start + 1)) {
      if (line.trim() === '' || /^\s+llm-explainer /.test(line)) break;
      usage.push(line);
    }
  }
  return `Usage:\n${usage.join('\n')}\n\n${DESCRIPTIONS[command] ?? ''}\nSee \`llm-explainer help\` for every command.`;
}
