// `llm-explainer runs`: the stored runs, newest first, read through the service (a reading one: the store
// opened read-only, as for show and report).
import { MAX_PAGE_SIZE } from '../../shared/api';
import type { RunSummary } from '../../shared/run';
import { intOption, parseCommand } from './args';
import { openReadonlyWorkbench } from './workbench';

/**
 * The prompt the empty-store hint suggests: one line (no shell quoting tricks) in the support-desk format the
 * built-in demo model was trained on; it answers "email support: next business day" (checked by a test).
 */
export const HINT_PROMPT = '[DATA] phone support: mon-fri 9am-6pm email support: next business day [/DATA] When is email support open?';

export async function runsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand('runs', argv, {
    db: { type: 'string' },
    limit: { type: 'string' },
    offset: { type: 'string' },
    experiment: { type: 'string' },
    search: { type: 'string' },
    json: { type: 'boolean' },
  });
  const offset = intOption('offset', values.offset, 0) ?? 0;
  const limit = intOption('limit', values.limit, 1, MAX_PAGE_SIZE) ?? 50;
  const workbench = openReadonlyWorkbench(values.db);
  try {
    const { rows, total } = await workbench.service.listRuns({
      offset,
      limit,
      experiment: values.experiment,
      search: values.search,
      sort: { column: 'createdAt', direction: 'desc' },
    });
    if (values.json) {
      process.stdout.write(JSON.stringify({ total, rows }, null, 2) + '\n');
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write(`no runs yet — try: llm-explainer explain --prompt "${HINT_PROMPT}"\n`);
      return 0;
    }
    process.stdout.write(formatRunsTable(rows) + `\n${rows.length} of ${total} runs\n`);
    return 0;
  } finally {
    await workbench.close();
  }
}

export function formatRunsTable(rows: RunSummary[]): string {
  const clip = (text: string, n: number) => {
    const flat = text.replace(/\s+/g, ' ');
    return flat.length > n ? flat.slice(0, n - 1) + '…' : flat;
  };
  const header = ['id', 'created', 'status', 'model', 'task', 'methods', 'prompt', 'answer'];
  const table = rows.map((r) => [
    r.id,
    r.createdAt.replace('T', ' ').slice(0, 19),
    r.status,
    clip(r.modelName, 18),
    r.task,
    clip(r.methods.join(','), 24),
    clip(r.promptExcerpt, 30),
    clip(r.answerExcerpt, 24),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  return [header, ...table].map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
