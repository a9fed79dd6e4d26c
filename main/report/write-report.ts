// Self-contained HTML reports (issue 6): one file that opens offline in any browser and shows runs — or a
// whole experiment — in the app's own views, read-only. `report`, `explain --report` and the app's Export
// all come here.
import { writeFileSync } from 'node:fs';
import { MAX_PAGE_SIZE, type RunListResult } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import { APP_VERSION } from '../version';
import { reportDocument } from './html';
import { databaseOf, recordReportData, type ReportSource } from './record';
import { ReportError, readRendererBundle } from './renderer-bundle';

export { ReportError, findRendererDir } from './renderer-bundle';
export type { ReportSource } from './record';

/** What a report shows: runs by id, or every run of an experiment (then also the experiment's aggregates). */
export interface ReportRequest {
  runIds?: string[];
  experiment?: string;
  /** Shown as the app name in the page and as the document title (default: made from the contents). */
  title?: string;
  /** The built renderer folder (default: out/renderer found from here). */
  rendererDir?: string;
}

/** The runs of an experiment in run order (oldest first), read page by page through the service. */
async function experimentRunIds(service: ReportSource, experiment: string): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
    const query = { experiment, offset, limit: MAX_PAGE_SIZE, sort: { column: 'createdAt', direction: 'asc' } };
    const response = await service.call('listRuns', [query]);
    if (!response.ok) throw new ReportError(response.error.code, response.error.message);
    const page = response.value as RunListResult;
    ids.push(...page.rows.map((row) => row.id));
    if (page.rows.length === 0 || offset + page.rows.length >= page.total) return ids;
  }
}

async function resolveRunIds(service: ReportSource, request: ReportRequest): Promise<string[]> {
  if (request.experiment !== undefined) {
    const ids = await experimentRunIds(service, request.experiment);
    if (ids.length === 0) throw new ReportError('not_found', `experiment "${request.experiment}" has no runs in ${await databaseOf(service)}`);
    return [...new Set([...ids, ...(request.runIds ?? [])])];
  }
  const ids = [...new Set(request.runIds ?? [])];
  if (ids.length === 0) throw new ReportError('empty', 'a report needs at least one run id or an experiment');
  return ids;
}

function defaultTitle(request: ReportRequest, runCount: number): string {
  if (request.experiment !== undefined) return `Report: ${request.experiment}`;
  return runCount === 1 ? 'LLM Explainer report' : `LLM Explainer report (${runCount} runs)`;
}

/**
 * The report as one HTML string, recorded through the calling service. Throws ReportError: 'not_found'
 * (unknown ids, naming them, or an empty experiment), 'empty' (nothing asked for), 'renderer_missing' (run
 * `npm run build`). Example: `await buildReport(service, {runIds: ['r_1']})` → '<!doctype html>…' (about 2 MB:
 * the app bundle plus the run; see README for the size of a 512-token run).
 */
export async function buildReport(service: ReportSource, request: ReportRequest): Promise<string> {
  return (await writeReport(service, request)).html;
}

/** The page and the runs it holds (for naming the file). */
async function writeReport(service: ReportSource, request: ReportRequest): Promise<{ html: string; runs: RunJson[] }> {
  const runIds = await resolveRunIds(service, request);
  const bundle = readRendererBundle(request.rendererDir);
  const title = request.title ?? defaultTitle(request, runIds.length);
  const data = await recordReportData(service, { runIds, experiment: request.experiment, title });
  const written = new Date(data.createdAt ?? Date.now()).toISOString().replace('T', ' ').slice(0, 16);
  const scope = request.experiment !== undefined ? `experiment "${request.experiment}", ` : '';
  const html = reportDocument({
    bundle,
    data,
    title,
    colophon: `Written ${written} UTC by LLM Explainer Workbench ${APP_VERSION} · ${scope}${runIds.length} run${runIds.length === 1 ? '' : 's'}`,
  });
  return { html, runs: data.runs };
}

/**
 * A name for the downloaded file, from what the report holds (letters, digits, dots, dashes and underscores
 * only). Example: `reportFileName({runIds: ['r_1']}, [run])` → 'llama-r_1-report.html'.
 */
export function reportFileName(request: { runIds?: string[]; experiment?: string }, runs: readonly Pick<RunJson, 'id' | 'model'>[]): string {
  const slug = (text: string) => text.normalize('NFKD').replace(/[^A-Za-z0-9._]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'runs';
  if (request.experiment !== undefined) return `${slug(request.experiment)}-report.html`;
  const ids = request.runIds ?? [];
  const first = ids.length === 1 ? runs.find((run) => run.id === ids[0]) : undefined;
  return first ? `${slug(first.model.name)}-${slug(first.id)}-report.html` : `llm-explainer-report-${ids.length}-runs.html`;
}

/**
 * What the API's exportReport returns: the page and a file name to save it under.
 * Example: `await exportReport(service, {runIds: ['r_1']})` → `{html: '<!doctype html>…', fileName: 'llama-r_1-report.html'}`.
 */
export async function exportReport(service: ReportSource, request: { runIds?: string[]; experiment?: string }): Promise<{ html: string; fileName: string }> {
  const { html, runs } = await writeReport(service, request);
  return { html, fileName: reportFileName(request, runs) };
}

/** Writes a report to `file` (`report -o`, `explain --report`); returns its size in bytes. */
export async function writeReportFile(service: ReportSource, request: ReportRequest, file: string): Promise<number> {
  const html = await buildReport(service, request);
  writeFileSync(file, html);
  return Buffer.byteLength(html);
}
