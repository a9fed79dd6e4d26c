// The static client: the same WorkbenchApi over runs embedded in the page, read-only. It lets an exported
// HTML report reuse the renderer bundle (issue 6): the report writer embeds the runs as JSON in
// `<script type="application/json" id="llm-explainer-data">` (with `<` written as `\u003c`, so no model or
// user text can close the element) and the views show them exactly as the live app does.
import { ApiError, API_ERROR_CODES, MAX_PAGE_SIZE } from '../../../shared/api';
import type { AppInfo, RunListQuery, RunListResult, TensorInfo, TensorSlice, WorkbenchApi } from '../../../shared/api';
import type { RunJson, RunSummary } from '../../../shared/run';

/** Id of the element that holds the embedded data. */
export const STATIC_DATA_ELEMENT_ID = 'llm-explainer-data';
export const STATIC_DATA_SCHEMA = 'llm-explainer.static/1' as const;

/** What a report embeds: full runs (attention.data filled in when per-head data is wanted). */
export interface StaticData {
  schema: typeof STATIC_DATA_SCHEMA;
  title?: string;
  appVersion?: string;
  runs: RunJson[];
}

/**
 * Serialises data for the embedding element; `<`, `>`, `&` and the line separators are escaped so the JSON
 * cannot end the script element or be read as markup.
 * @example embedStaticData({schema, runs: []}) // '{"schema":"llm-explainer.static/1","runs":[]}'
 */
export function embedStaticData(data: StaticData): string {
  return JSON.stringify(data).replace(/[<>&\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The part of a Document readStaticData needs (kept structural so the module also runs in Node). */
export interface DataHost {
  getElementById(id: string): { textContent: string | null } | null;
}

/** Reads the embedded data from a document; null when the page has none (the live app). */
export function readStaticData(document: DataHost): StaticData | null {
  const element = document.getElementById(STATIC_DATA_ELEMENT_ID);
  if (!element?.textContent) return null;
  const data = JSON.parse(element.textContent) as StaticData;
  return data.schema === STATIC_DATA_SCHEMA && Array.isArray(data.runs) ? data : null;
}

/** The list row of a stored run. */
export function summarizeRun(run: RunJson): RunSummary {
  const excerpt = (text: string) => (text.length > 160 ? `${text.slice(0, 159)}…` : text);
  const prompt = run.input.prompt ?? run.input.messages?.map((message) => message.content).join(' ') ?? '';
  return {
    id: run.id,
    createdAt: run.createdAt,
    status: run.status,
    modelName: run.model.name,
    modelPath: run.model.path,
    architecture: run.model.architecture,
    task: run.task,
    promptExcerpt: excerpt(prompt),
    answerExcerpt: excerpt(run.answerText),
    methods: run.methods,
    experiment: run.experiment,
    tags: run.tags,
  };
}

function attentionTensorName(run: RunJson): string {
  return `attention.${run.attention?.rows ?? 'answer'}`;
}

function listRuns(runs: RunJson[], query: RunListQuery = {}): RunListResult {
  const search = query.search?.toLowerCase();
  const matching = runs.filter((run) => {
    if (query.experiment !== undefined && run.experiment !== query.experiment) return false;
    if (query.model !== undefined && run.model.name !== query.model && run.model.path !== query.model) return false;
    if (query.task !== undefined && run.task !== query.task) return false;
    if (query.status !== undefined && run.status !== query.status) return false;
    if (query.method !== undefined && !run.methods.includes(query.method)) return false;
    if (query.tag !== undefined && !run.tags.includes(query.tag)) return false;
    if (search) {
      const summary = summarizeRun(run);
      const haystack = [summary.promptExcerpt, run.answerText, run.model.name, run.notes, ...run.tags].join('\n').toLowerCase();
      if (!haystack.includes(search)) return false;
    }
    return true;
  });
  const { column, direction } = query.sort ?? { column: 'createdAt', direction: 'desc' };
  const rows = matching.map(summarizeRun);
  rows.sort((left, right) => {
    const order = String(left[column]).localeCompare(String(right[column]));
    return direction === 'asc' ? order : -order;
  });
  const offset = Math.max(0, query.offset ?? 0);
  const limit = Math.min(MAX_PAGE_SIZE, Math.max(1, query.limit ?? 100));
  return { rows: rows.slice(offset, offset + limit), total: rows.length };
}

function readOnly(): never {
  throw new ApiError(API_ERROR_CODES.unsupported, 'This is a read-only report: runs cannot be created or changed here.');
}

/**
 * A read-only WorkbenchApi over embedded runs. Head slices come from `attention.data`.
 * Example: `createStaticApi({schema, runs: [run]}).getTensorSlice(run.id, 'attention.answer', [0, 1])`.
 */
export function createStaticApi(data: StaticData): WorkbenchApi {
  const runs = data.runs;
  const byId = new Map(runs.map((run) => [run.id, run]));
  const info: AppInfo = {
    productName: data.title ?? 'LLM Explainer report',
    version: data.appVersion ?? '',
    mode: 'local',
    platform: 'browser',
    databasePath: '',
    canPickFolder: false,
    methods: [...new Set(runs.flatMap((run) => run.methods))],
  };
  return Object.freeze({
    listRuns: async (query?: RunListQuery) => listRuns(runs, query),
    getRun: async (id: string) => byId.get(id) ?? null,
    listTensors: async (runId: string): Promise<TensorInfo[]> => {
      const attention = byId.get(runId)?.attention;
      const layer = attention?.data?.[0];
      if (!attention || !layer?.[0]?.length) return [];
      const shape = [attention.data.length, layer.length, layer[0].length, layer[0][0]?.length ?? 0];
      return [{ name: attentionTensorName(byId.get(runId)!), axes: ['layer', 'head', 'row', 'col'], shape, encoding: 'float32' }];
    },
    getTensorSlice: async (runId: string, name: string, leadingIndex: number[]): Promise<TensorSlice | null> => {
      const run = byId.get(runId);
      if (!run?.attention?.data?.length || name !== attentionTensorName(run)) return null;
      const axes = ['layer', 'head', 'row', 'col'];
      let part: unknown = run.attention.data;
      for (const index of leadingIndex) {
        if (!Array.isArray(part) || index < 0 || index >= part.length) {
          throw new ApiError(API_ERROR_CODES.invalidArgument, `Index ${index} is out of range for ${name}.`);
        }
        part = part[index];
      }
      const shape: number[] = [];
      for (let probe: unknown = part; Array.isArray(probe); probe = probe[0]) shape.push(probe.length);
      return { name, axes: axes.slice(leadingIndex.length), shape, data: (part as unknown[]).flat(4) as number[] };
    },
    createRun: async () => readOnly(),
    cancelRun: async () => ({ cancelled: false }),
    updateRun: async () => readOnly(),
    deleteRuns: async () => readOnly(),
    inspectModelFolder: async () => readOnly(),
    recentModelFolders: async () => [],
    listDevices: async () => [],
    listExperiments: async () => {
      const counts = new Map<string, { runCount: number; lastRunAt: string }>();
      for (const run of runs) {
        const entry = counts.get(run.experiment) ?? { runCount: 0, lastRunAt: run.createdAt };
        entry.runCount += 1;
        if (run.createdAt > entry.lastRunAt) entry.lastRunAt = run.createdAt;
        counts.set(run.experiment, entry);
      }
      return [...counts].map(([name, entry]) => ({ name, ...entry }));
    },
    listJobs: async () => [],
    demoModelPath: async () => readOnly(),
    appInfo: async () => info,
    pickModelFolder: async () => readOnly(),
    onProgress: () => () => {},
    onRunsChanged: () => () => {},
  });
}
