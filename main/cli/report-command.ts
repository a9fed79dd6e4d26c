// `llm-explainer report ID... -o FILE.html` and `report --experiment NAME -o FILE.html`: one self-contained
// HTML file (main/report) that opens offline in any browser. Unknown runs and a missing -o are usage errors
// (exit 2); an unbuilt renderer is a failure (exit 1) whose message says to run `npm run build`.
import { ReportError, writeReportFile, type ReportRequest, type ReportSource } from '../report/write-report';
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
    const request = { runIds: positionals.length > 0 ? positionals : undefined, experiment: values.experiment, title: values.title };
    const bytes = await writeReportTo(workbench.service, request, values.output, 'report');
    const runCount = values.experiment !== undefined ? (await workbench.service.listRuns({ experiment: values.experiment, limit: 1 })).total : positionals.length;
    process.stdout.write(`wrote ${values.output} (${megabytes(bytes)}, ${runCount} run${runCount === 1 ? '' : 's'})\n`);
    return 0;
  } finally {
    await workbench.close();
  }
}

/** Writes a report through the command's service (`report -o`, `explain --report`); returns its size in bytes. */
export async function writeReportTo(service: ReportSource, request: ReportRequest, file: string, command: string): Promise<number> {
  try {
    return await writeReportFile(service, request, file);
  } catch (error) {
    throw asCliError(command, error);
  }
}
