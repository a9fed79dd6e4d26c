// Self-contained HTML reports (issue 6): one file that opens offline in any browser and shows runs — or a
// whole experiment — in the app's own views, read-only. `report`, `explain --report` and the app's Export
// all come here.
import { writeFileSync } from 'node:fs';
import type { RunReader } from '../store/run-reader';
import { APP_VERSION } from '../engine/version';
import { reportDocument } from './html';
import { recordReportData } from './record';
import { ReportError, readRendererBundle } from './renderer-bundle';

export { ReportError, findRendererDir } from './renderer-bundle';

/** What a report shows: runs by id, or every run of an experiment (then also the experiment's aggregates). */
export interface ReportRequest {
  runIds?: string[];
  experiment?: string;
  /** Shown as the app name in the page and as the document title (default: made from the contents). */
  title?: string;
  /** The built renderer folder (default: out/renderer found from here). */
  rendererDir?: string;
}

function resolveRunIds(reader: RunReader, request: ReportRequest): string[] {
  if (request.experiment !== undefined) {
    const ids = reader.runsOfExperiment(request.experiment).map((run) => run.id);
    if (ids.length === 0) throw new ReportError('not_found', `experiment "${request.experiment}" has no runs in ${reader.path}`);
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
 * The report as one HTML string. Throws ReportError: 'not_found' (unknown ids, naming them, or an empty
 * experiment), 'empty' (nothing asked for), 'renderer_missing' (run `npm run build`).
 * Example: `await buildReport(store, {runIds: ['r_1']})` → '<!doctype html>…' (about 2 MB: the app bundle
 * plus the run; see README for the size of a 512-token run).
 */
export async function buildReport(reader: RunReader, request: ReportRequest): Promise<string> {
  const runIds = resolveRunIds(reader, request);
  const bundle = readRendererBundle(request.rendererDir);
  const title = request.title ?? defaultTitle(request, runIds.length);
  const data = await recordReportData(reader, { runIds, experiment: request.experiment, title });
  const written = new Date(data.createdAt ?? Date.now()).toISOString().replace('T', ' ').slice(0, 16);
  const scope = request.experiment !== undefined ? `experiment "${request.experiment}", ` : '';
  return reportDocument({
    bundle,
    data,
    title,
    colophon: `Written ${written} UTC by LLM Explainer Workbench ${APP_VERSION} · ${scope}${runIds.length} run${runIds.length === 1 ? '' : 's'}`,
  });
}

/**
 * The report the app's Export offers for download: the same page as `llm-explainer report`.
 * Example: `await reportHtml(store, {experiment: 'support-faq'})` → '<!doctype html>…'.
 */
export async function reportHtml(reader: RunReader, request: { runIds?: string[]; experiment?: string; title?: string }): Promise<string> {
  return buildReport(reader, request);
}

/** A name for the downloaded file, from what the report holds (letters, digits, dots, dashes and underscores only). */
export function reportFileName(reader: RunReader, request: { runIds?: string[]; experiment?: string }): string {
  const slug = (text: string) => text.normalize('NFKD').replace(/[^A-Za-z0-9._]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'runs';
  if (request.experiment !== undefined) return `${slug(request.experiment)}-report.html`;
  const ids = request.runIds ?? [];
  const first = ids.length === 1 ? reader.getRunSummary(ids[0]) : undefined;
  return first ? `${slug(first.modelName)}-${slug(first.id)}-report.html` : `llm-explainer-report-${ids.length}-runs.html`;
}

/**
 * What the API's exportReport returns: the page and a file name to save it under.
 * Example: `await exportReport(store, {runIds: ['r_1']})` → `{html: '<!doctype html>…', fileName: 'llama-r_1-report.html'}`.
 */
export async function exportReport(reader: RunReader, request: { runIds?: string[]; experiment?: string }): Promise<{ html: string; fileName: string }> {
  return { html: await buildReport(reader, request), fileName: reportFileName(reader, request) };
}

/** Writes a report of runs to `file`; returns its size in bytes. */
export async function writeReportFile(reader: RunReader, ids: string[], file: string, title?: string): Promise<number> {
  const html = await buildReport(reader, { runIds: ids, title });
  writeFileSync(file, html);
  return Buffer.byteLength(html);
}

/** Writes a report of a whole experiment to `file`; returns its size in bytes. */
export async function writeExperimentReportFile(reader: RunReader, experiment: string, file: string, title?: string): Promise<number> {
  const html = await buildReport(reader, { experiment, title });
  writeFileSync(file, html);
  return Buffer.byteLength(html);
}
