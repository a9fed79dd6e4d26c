// The `llm-explainer` command line: one door to the same engine, store and service the app uses.
import { explainCommand } from './cli/explain-command';
import { runsCommand } from './cli/runs-command';
import { showCommand } from './cli/show-command';
import { REPORT_USAGE, reportCommand } from './cli/report-command';
import { serveCommandFromArgs } from './cli/serve-command';
import { BATCH_USAGE, batchCommand } from './cli/batch-command';
import { RERUN_USAGE, rerunCommand } from './cli/rerun-command';
import { UsageError } from './cli/args';
import { HELP_COMMANDS, commandHelp, wantsHelp } from './cli/help';
import { VIEW_USAGE } from './cli/view-flags';
import { METHODS_USAGE, flagUsage } from './cli/method-flags';
import { APP_VERSION } from './version';
import { openedDatabasePath } from './cli/workbench';

export const HELP = `llm-explainer — why did a local language model answer what it did?

Usage:
  llm-explainer explain [--model DIR] (--prompt TEXT | --messages FILE.json | --input-ids N,N,...)
                        [--system TEXT] [--task chat|completion|question_answering|translation|summarization]
                        [--answer TEXT | --answer-ids N,N,...] [--max-new-tokens N] [--temperature T]
                        [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--dtype fp32|fp16|q8|q4|...]
                        [--assistant-model DIR [--assistant-tokens K]]
                        ${METHODS_USAGE}
                        ${flagUsage('attention-rows')} [--attention-query PATTERN --attention-key PATTERN]
                        ${flagUsage('target')} ${flagUsage('foil')} ${flagUsage('saliency-norm')}
                        ${flagUsage('raw-gradient')} ${flagUsage('ig-steps')} ${flagUsage('ig-baseline')}
                        ${flagUsage('ig-rule')} ${flagUsage('ig-spacing')}
                        ${flagUsage('occlusion-baseline')} ${flagUsage('occlusion-span')} ${flagUsage('logit-lens-manual')}
                        [--device auto|cpu|cuda|dml|coreml] [--memory-budget SIZE] [--experiment NAME] [--tag TAG]...
                        [--db FILE] [--json FILE] [--report FILE.html] [--quiet]
                        ${VIEW_USAGE}
  llm-explainer runs   [--db FILE] [--limit N] [--offset N] [--experiment NAME] [--search TEXT] [--json]
  llm-explainer show ID [--db FILE] [--json FILE|-]
                        ${VIEW_USAGE}
  ${REPORT_USAGE}
  llm-explainer serve  [--db FILE] [--port N] [--no-open] [--no-demo]
  ${BATCH_USAGE}
  ${RERUN_USAGE}
  llm-explainer help [COMMAND]      (or COMMAND --help)
  llm-explainer --version

METHOD (the token view's colours): attention, rollout, attention_norm, value_zeroing, saliency, grad_x_input,
integrated_gradients or none.
Without --model the built-in demo model is used. The run store is a SQLite file in the app-data folder
(override with --db or LLM_EXPLAINER_DB).`;

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === '--version' || command === '-V') {
      process.stdout.write(`llm-explainer ${APP_VERSION}\n`);
      return 0;
    }
    const helpFor = command === 'help' ? rest[0] : wantsHelp(rest) ? command : undefined;
    if (helpFor !== undefined && HELP_COMMANDS.includes(helpFor)) {
      process.stdout.write(commandHelp(HELP, helpFor) + '\n');
      return 0;
    }
    switch (command) {
      case 'explain':
        return await explainCommand(rest);
      case 'runs':
        return await runsCommand(rest);
      case 'show':
        return await showCommand(rest);
      case 'report':
        return await reportCommand(rest);
      case 'batch':
        return await batchCommand(rest);
      case 'rerun':
        return await rerunCommand(rest);
      case 'serve':
        return await serveCommandFromArgs(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"; commands: explain, runs, show, batch, rerun, report, serve, help`);
    }
  } catch (error) {
    process.stderr.write(`llm-explainer: ${oneLineError(error)}\n`);
    // A run refused up front (too large for the memory budget or the model's positions) is a usage error too.
    return error instanceof UsageError || (error as { code?: unknown })?.code === 'too_large' ? 2 : 1;
  }
}

function oneLineError(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  // Damage found while reading (not when opening): SQLite's message does not say which file.
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  if (/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return `${openedDatabasePath() ?? 'the run database'} is not a run database or is damaged (${message})`;
  return message;
}
