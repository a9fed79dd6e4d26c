// The static client: the same WorkbenchApi over runs embedded in the page, read-only. It lets an exported
// HTML report reuse the renderer bundle (issue 6): the report writer (main/report) embeds the runs and the
// API responses the views need as JSON in `<script type="application/json" id="llm-explainer-data">` (with
// `<` written as `\u003c`, so no model or user text can close the element) and the views show them exactly
// as the live app does. Calls are answered in this order: recorded responses (replay, see ./replay), what can
// be computed from the embedded runs (lists, filters, head slices), and otherwise a clear "not in this
// report" error that the views show like any other API error.
import { ApiError, API_ERROR_CODES, API_METHODS, MAX_PAGE_SIZE } from './api';
import type {
  AppInfo,
  RecentModelFolder,
  RunListQuery,
  RunListResult,
  TensorInfo,
  TensorSlice,
  WorkbenchApi,
  WorkbenchMethods,
} from './api';
import type { RunJson, RunSummary } from './run';
import { callKey, unpackValue, type ReplayResponses } from './replay';
import { excerpt, promptExcerptOf } from './run-excerpt';

/** Id of the element that holds the embedded data. */
export const STATIC_DATA_ELEMENT_ID = 'llm-explainer-data';
export const STATIC_DATA_SCHEMA = 'llm-explainer.static/1' as const;

/**
 * What a report embeds: the runs as getRun returns them (attention.data filled in, or left empty and the
 * head slices recorded in `responses`), and the recorded responses of other calls.
 */
export interface StaticData {
  schema: typeof STATIC_DATA_SCHEMA;
  title?: string;
  appVersion?: string;
  /** ISO time the report was written. */
  createdAt?: string;
  /** The experiment a report was made for (`report --experiment NAME`). */
  experiment?: string;
  runs: RunJson[];
  /** Recorded API responses by callKey (numeric arrays possibly packed, see replay.ts). */
  responses?: ReplayResponses;
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
  return data.schema === STATIC_DATA_SCHEMA && Array.isArray(data.runs) ? (unpackValue(data) as StaticData) : null;
}

/**
 * The view a report opens on when its URL names none: a report of one run is about that run, so it opens on
 * its detail; reports of several runs or of an experiment open on the list.
 * @example reportStartPath({schema, runs: [run]}) // '/runs/r_1'
 */
export function reportStartPath(data: StaticData): string | undefined {
  return data.runs.length === 1 && data.experiment === undefined ? `/runs/${encodeURIComponent(data.runs[0].id)}` : undefined;
}

/** The list row of a stored run. */
export function summarizeRun(run: RunJson): RunSummary {
  return {
    id: run.id,
    createdAt: run.createdAt,
    status: run.status,
    modelName: run.model.name,
    modelPath: run.model.path,
    architecture: run.model.architecture,
    task: run.task,
    promptExcerpt: promptExcerptOf(run.input),
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

/** Error for a call the report has no answer for: shown by the view instead of a crash. */
function notInReport(method: string): ApiError {
  return new ApiError(
    API_ERROR_CODES.unsupported,
    `This part is not in this report (${method}); open the runs in the LLM Explainer Workbench to see it.`,
    'NotInReport',
  );
}

/** Methods that would change something or need the machine the app runs on (names, so methods added to the
 * contract later can be listed before they exist). */
const CHANGING_METHODS: readonly string[] = [
  'createRun', 'updateRun', 'deleteRuns', 'inspectModelFolder', 'demoModelPath', 'pickModelFolder',
  'startBatch', 'rerun', 'renameExperiment', 'exportReport',
];

/** What a report answers for the app's live state: nothing is running in a file. */
const IDLE_ANSWERS: Readonly<Record<string, unknown>> = {
  cancelRun: { cancelled: false },
  listJobs: [],
  listDevices: [],
  listBatches: [],
  getBatch: null,
  cancelBatch: { cancelled: 0 },
};

function recentFolders(runs: RunJson[]): RecentModelFolder[] {
  const folders = new Map<string, RecentModelFolder>();
  for (const run of runs) {
    const entry = folders.get(run.model.path) ?? { path: run.model.path, name: run.model.name, lastUsedAt: run.createdAt, runCount: 0 };
    entry.runCount += 1;
    if (run.createdAt > entry.lastUsedAt) entry.lastUsedAt = run.createdAt;
    folders.set(run.model.path, entry);
  }
  return [...folders.values()].sort((left, right) => right.lastUsedAt.localeCompare(left.lastUsedAt));
}

/** A slice of a slice: fixes further leading axes of a recorded slice (e.g. one head of a recorded layer). */
function subSlice(slice: TensorSlice, extra: number[]): TensorSlice {
  let offset = 0;
  let shape = slice.shape;
  for (const index of extra) {
    if (index < 0 || index >= shape[0]) {
      throw new ApiError(API_ERROR_CODES.invalidArgument, `Index ${index} is out of range for ${slice.name}.`);
    }
    shape = shape.slice(1);
    offset = offset * (slice.shape.length ? 1 : 1) + index * shape.reduce((product, size) => product * size, 1);
  }
  const size = shape.reduce((product, size) => product * size, 1);
  return { name: slice.name, axes: slice.axes.slice(extra.length), shape, data: slice.data.slice(offset, offset + size) };
}

/**
 * A read-only WorkbenchApi over embedded runs and recorded responses. Head slices come from recorded
 * getTensorSlice responses (a deeper slice is cut from a recorded shallower one) or from `attention.data`.
 * Example: `createStaticApi({schema, runs: [run]}).getTensorSlice(run.id, 'attention.answer', [0, 1])`.
 */
export function createStaticApi(data: StaticData): WorkbenchApi {
  const runs = data.runs;
  const responses = data.responses ?? {};
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

  /** The recorded answer of a call; undefined when the call was not recorded. */
  function replay(method: string, args: unknown[]): { found: true; value: unknown } | { found: false } {
    const entry = responses[callKey(method, args)];
    if (!entry) return { found: false };
    if ('error' in entry) throw new ApiError(entry.error.code, entry.error.message, entry.error.name);
    return { found: true, value: entry.value };
  }

  function sliceFromAttentionData(runId: string, name: string, leadingIndex: number[]): TensorSlice | null {
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
  }

  const computed: Partial<WorkbenchMethods> = {
    listRuns: async (query?: RunListQuery) => listRuns(runs, query),
    getRun: async (id: string) => byId.get(id) ?? null,
    listTensors: async (runId: string): Promise<TensorInfo[]> => {
      const recorded = replay('listTensors', [runId]);
      if (recorded.found) return recorded.value as TensorInfo[];
      const run = byId.get(runId);
      const attention = run?.attention;
      const layer = attention?.data?.[0];
      if (!run || !attention || !layer?.[0]?.length) return [];
      const shape = [attention.data.length, layer.length, layer[0].length, layer[0][0]?.length ?? 0];
      return [{ name: attentionTensorName(run), axes: ['layer', 'head', 'row', 'col'], shape, encoding: 'float32' }];
    },
    getTensorSlice: async (runId: string, name: string, leadingIndex: number[]): Promise<TensorSlice | null> => {
      for (let depth = leadingIndex.length; depth >= 0; depth--) {
        const recorded = replay('getTensorSlice', [runId, name, leadingIndex.slice(0, depth)]);
        if (recorded.found) {
          const slice = recorded.value as TensorSlice | null;
          return slice && depth < leadingIndex.length ? subSlice(slice, leadingIndex.slice(depth)) : slice;
        }
      }
      const fromData = sliceFromAttentionData(runId, name, leadingIndex);
      if (fromData) return fromData;
      if (!byId.has(runId) || Object.keys(responses).length === 0) return null;
      const known = (await computed.listTensors!(runId)).some((tensor) => tensor.name === name);
      if (!known) return null;
      throw notInReport(`${name} of run ${runId}`);
    },
    recentModelFolders: async () => recentFolders(runs),
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
    appInfo: async () => info,
  };

  // Every method of the contract, including ones added after this file was written: changes are refused,
  // a recorded response wins, then the computed answer, then "not in this report".
  const methods: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const method of API_METHODS) {
    methods[method] = async (...args: unknown[]) => {
      if (CHANGING_METHODS.includes(method)) readOnly();
      const own = computed[method] as ((...inner: unknown[]) => Promise<unknown>) | undefined;
      if (method !== 'listTensors' && method !== 'getTensorSlice') {
        const recorded = replay(method, args);
        if (recorded.found) return recorded.value;
      }
      if (own) return own(...args);
      if (method in IDLE_ANSWERS) return structuredClone(IDLE_ANSWERS[method]);
      throw notInReport(method);
    };
  }
  return Object.freeze({
    ...(methods as unknown as WorkbenchMethods),
    onProgress: () => () => {},
    onRunsChanged: () => () => {},
  });
}
