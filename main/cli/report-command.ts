// `llm-explainer report ID... -o FILE.html` and `report --experiment NAME -o FILE.html`: one self-contained
// HTML file (main/report) that opens offline in any browser. Unknown runs and a missing -o are usage errors
// (exit 2); an unbuilt renderer is a failure (exit 1) whose message says to run `npm run build`.
import type { RunReader } from '../store/run-reader';
import { ReportError, buildReport } from '../report/write-report';
import { writeFileSync } from 'node:fs';
import { UsageError, parseCommand } from './args';
import { openReadonlyWorkbench } from './workbench';

export const REPORT_USAGE = 'llm-explainer report (ID... | --experiment NAME) -o FILE.html [--title TEXT] [--db FILE]';

/** ReportErrors about what was asked for become usage errors (exit 2); the rest stay failures (exit 1). */
function asCliError(command: string, error: unknown): unknown {
  if (error instanceof ReportError && error.code !== 'renderer_missing') return new UsageError(`${command}: ${error.message}`);
  if (error instanceof ReportError) return new Error(`${command}: ${error.message}`);
  return error;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('report', argv, {
    output: { type: 'string', short: 'o' },
    experiment: { type: 'string' },
    title: { type: 'string' },
    db: { type: 'string' },
  }, true);
  if (typeof values.output !== 'string' || values.output === '') throw new UsageError(`report: give the output file with -o FILE.html (usage: ${REPORT_USAGE})`);
  if (positionals.length === 0 && values.experiment === undefined) throw new UsageError(`report: give run ids or --experiment NAME (usage: ${REPORT_USAGE})`);
  const workbench = openReadonlyWorkbench(values.db);
  try {
    const html = await buildReport(workbench.reader, {
      runIds: positionals.length > 0 ? positionals : undefined,
      experiment: values.experiment,
      title: values.title,
    }).catch((error: unknown) => {
      throw asCliError('report', error);
    });
    writeFileSync(values.output, html);
    const runCount = values.experiment !== undefined ? workbench.reader.runsOfExperiment(values.experiment).length : positionals.length;
    process.stdout.write(`wrote ${values.output} (${megabytes(Buffer.byteLength(html))}, ${runCount} run${runCount === 1 ? '' : 's'})\n`);
    return 0;
  } finally {
    workbench.close();
  }
}

/** `explain --report FILE.html`: the report of the run just made. */
export async function writeReportFile(store: RunReader, ids: string[], file: string): Promise<void> {
  try {
    writeFileSync(file, await buildReport(store, { runIds: ids }));
  } catch (error) {
    throw asCliError('--report', error);
  }
}
