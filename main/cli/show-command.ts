// `llm-explainer show ID [--json FILE|-]`: one stored run, as a summary or as the run JSON.
import { writeJsonFile } from './json-file';
import { UsageError, parseCommand } from './args';
import { summarizeRun } from './explain-command';
import { openReadonlyWorkbench } from './workbench';
import { VIEW_OPTIONS, tokenViewFor, viewFlagsFromArgs } from './view-flags';

export async function showCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('show', argv, { db: { type: 'string' }, json: { type: 'string' }, ...VIEW_OPTIONS }, true);
  const view = viewFlagsFromArgs(values);
  if (positionals.length !== 1) throw new UsageError('show: give exactly one run id (see `llm-explainer runs`)');
  const workbench = openReadonlyWorkbench(values.db);
  try {
    const run = await workbench.service.getRun(positionals[0], { includeAttentionData: true, includeRawGradient: true });
    if (!run) throw new UsageError(`show: no run "${positionals[0]}" in ${workbench.databasePath} (see \`llm-explainer runs\`)`);
    if (values.json === undefined) {
      process.stdout.write(summarizeRun(run) + (run.error ? `error    ${run.error}\n` : ''));
      process.stdout.write(tokenViewFor(run, view, process.stdout));
    } else if (values.json === '-') {
      process.stdout.write(JSON.stringify(run, null, 2) + '\n');
    } else {
      writeJsonFile(values.json, run);
      process.stdout.write(`wrote ${values.json}\n`);
    }
    return 0;
  } finally {
    await workbench.close();
  }
}
