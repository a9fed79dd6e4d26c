// The workbench API contract: one typed service interface, implemented once in main/service.ts and reached
// through either transport (Electron IPC or loopback HTTP) by the same generated proxy (shared/api-proxy.ts).
// Everything here is plain JSON: arguments, results, events and errors cross process boundaries as data.
// Additive changes only — F2's renderer, the CLI and tests are written against these names.
import type { ChatMessage, DeviceChoice, GenerationParams, RunJson, RunStatus, RunSummary, TaskType } from './run';
import type { ExplainOptions } from './explain-options';
import type { AttributionMethod, ExperimentAggregate, RunNumbers, TimelineSeries } from './experiment-math';
import type { TokenAlignment } from './token-alignment';
import { METHOD_FAMILIES, type FamilyStage } from './method-catalog';

// ---------------------------------------------------------------------------------------------------------
// Requests and results

/** Columns the runs list can be sorted by. */
export const RUN_SORT_COLUMNS = ['createdAt', 'modelName', 'task', 'status', 'experiment'] as const;
export type RunSortColumn = (typeof RUN_SORT_COLUMNS)[number];

/** Largest page `listRuns` returns; the list view pages through 10,000 runs with this. */
export const MAX_PAGE_SIZE = 1000;

/** Longest experiment name or tag the store keeps (batch item tags are `item:` + an id of up to 180). */
export const MAX_NAME_LENGTH = 200;

/**
 * One page of the runs list. Every filter is an exact match except `search`, which matches prompt, answer,
 * model name, notes and tags as a case-insensitive substring.
 * Example: `{offset: 0, limit: 50, search: 'phone', status: 'done', sort: {column: 'createdAt', direction: 'desc'}}`.
 */
export interface RunListQuery {
  /** First row of the page (default 0). */
  offset?: number;
  /** Rows per page, 1…MAX_PAGE_SIZE (default 100). */
  limit?: number;
  search?: string;
  experiment?: string;
  /** Model name or model folder path. */
  model?: string;
  task?: TaskType;
  status?: RunStatus;
  /** Runs that computed this method id, e.g. "attention". */
  method?: string;
  tag?: string;
  /** Default: newest first. */
  sort?: { column: RunSortColumn; direction: 'asc' | 'desc' };
}

export interface RunListResult {
  rows: RunSummary[];
  /** Rows matching the filters, ignoring offset/limit. */
  total: number;
}

export interface GetRunOptions {
  /**
   * Include `attention.data` ([layer][head][row][col]) — large; by default it is an empty array and views
   * read single heads with getTensorSlice instead.
   */
  includeAttentionData?: boolean;
  /** Include `gradient.raw` ([row][col][hidden]) when it was stored. */
  includeRawGradient?: boolean;
}

/** A stored tensor's description (no data). */
export interface TensorInfo {
  /** e.g. "attention.data", "gradient.saliency". */
  name: string;
  /** Axis names in storage order, e.g. ["layer", "head", "row", "col"]. */
  axes: string[];
  shape: number[];
  /** Storage encoding, e.g. "float16", "q8", "float32". */
  encoding: string;
}

/**
 * Part of a stored tensor: fixing the first k axes by `leadingIndex` gives the remaining axes.
 * Example: getTensorSlice(id, 'attention.data', [3, 1]) → layer 3, head 1: `{shape: [rows, cols], data}`.
 */
export interface TensorSlice {
  name: string;
  /** Axes of the slice (the leading axes removed). */
  axes: string[];
  shape: number[];
  /** Row-major values, length = product of shape. */
  data: number[];
}

/** Generation parameters of a request (GenerationParams without the stored-only `supplied` and `assistant` records). */
export type GenerationRequest = Omit<GenerationParams, 'supplied' | 'assistant'>;

/** Assisted generation: `modelPath` drafts up to `draftTokens` (default 5) tokens that the run's model verifies. */
export interface AssistantRequest {
  /** Absolute folder of the assistant model; its tokenizer files must equal the main model's. */
  modelPath: string;
  draftTokens?: number;
}

/** Default of AssistantRequest.draftTokens (--assistant-tokens). */
export const DEFAULT_ASSISTANT_TOKENS = 5;
/** Largest draftTokens accepted: more drafts per round only add rejected work. */
export const MAX_ASSISTANT_TOKENS = 64;

/**
 * Everything needed to create and explain a run. The answer is generated unless `answer` / `answerIds`
 * supplies it (teacher forcing: the expected answer / label).
 * Example: `{task: 'chat', messages: [{role: 'user', content: 'When is phone support open?'}],
 *   generation: {maxNewTokens: 16}, methods: ['attention', 'saliency'], device: 'auto'}`.
 */
export interface ExplainRequest {
  /** Absolute model folder; default the built-in demo model. */
  modelPath?: string;
  /** ONNX variant: fp32, fp16, q8, q4, q4f16, … (default: what the folder has, fp32 first). */
  dtype?: string;
  task: TaskType;
  system?: string;
  /** Chat messages (run through the chat template) — or `prompt`, not both. */
  messages?: ChatMessage[];
  /** Raw prompt text (completion style). */
  prompt?: string;
  /** Supplied answer text (label); the answer is then not generated. */
  answer?: string;
  /** Supplied answer token ids (exact reproduction). */
  answerIds?: number[];
  /** Exact prompt token ids; replace the tokenised prompt/messages. */
  inputIds?: number[];
  generation: GenerationRequest;
  /** Assisted generation (ignored when the answer is supplied). */
  assistant?: AssistantRequest;
  /** Method ids from shared/method-catalog METHOD_IDS (checked at run time); may be empty (generate only). */
  methods: string[];
  /** Explainer options; missing fields take DEFAULT_EXPLAIN_OPTIONS. */
  options?: Partial<ExplainOptions>;
  device: DeviceChoice;
  /** Experiment name (default "default"). */
  experiment?: string;
  tags?: string[];
  /** The run this one re-runs (experiments: rerun on another model). */
  sourceRunId?: string;
  /** Refuse the run when its estimated peak memory exceeds this (bytes; default: a share of physical memory). */
  memoryBudgetBytes?: number;
}

export interface CreateRunResult {
  /** The id the run will have in the store (known at once, even while queued). */
  runId: string;
}

/** Editable fields of a stored run. */
export interface RunPatch {
  tags?: string[];
  notes?: string;
  experiment?: string;
}

/** What a model folder holds, as shown by the folder picker. A bad folder resolves with `usable: false`. */
export interface FolderInfo {
  path: string;
  name: string;
  usable: boolean;
  /** Why the folder cannot be used (one actionable line), when `usable` is false. */
  problem?: ApiErrorData;
  /** `model_type` from config.json, e.g. "llama". */
  architecture?: string;
  /** Bytes of the folder's files (all ONNX variants included). */
  sizeBytes: number;
  /** ONNX variants present, e.g. ["fp32", "q8"]. */
  dtypes: string[];
  /** Files found, relative to the folder, e.g. ["config.json", "onnx/model.onnx"]. */
  files: string[];
  hasChatTemplate?: boolean;
  layers?: number;
  heads?: number;
  hiddenSize?: number;
  vocabSize?: number;
}

export interface RecentModelFolder {
  path: string;
  name: string;
  /** ISO time of the newest run that used it. */
  lastUsedAt: string;
  runCount: number;
}

export interface DeviceAvailability {
  device: DeviceChoice;
  available: boolean;
  /** Why it is not available (or what "auto" resolves to). */
  reason?: string;
}

export interface ExperimentSummary {
  name: string;
  runCount: number;
  /** ISO time of its newest run. */
  lastRunAt?: string;
}

export type ApiMode = 'electron' | 'web' | 'local';

export interface AppInfo {
  productName: string;
  version: string;
  /** Which door the service was opened through (the renderer may show it; views must not depend on it). */
  mode: ApiMode;
  platform: string;
  /** SQLite file of the run store. */
  databasePath: string;
  /** pickModelFolder works (Electron only); otherwise the folder is typed in. */
  canPickFolder: boolean;
  /** Explanation method ids this build supports (shared/method-catalog METHOD_IDS, in catalog order). */
  methods: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Experiments: aggregation, comparison, batches and reruns (issue 6)

/** Options of aggregateExperiment (see main/experiments/aggregate). */
export interface AggregateRequestOptions {
  /** Segment the "segment" head statistic measures attention to; default "data", else "system", else the first. */
  segment?: string;
  /** Only runs of this model (name or folder path). */
  model?: string;
  /** Token texts per method (default 20). */
  topTokens?: number;
  /** Methods to aggregate (default every one some run has). */
  methods?: AttributionMethod[];
}

/** Options of summarizeRuns. */
export interface SummarizeRequestOptions {
  /** Compare every answer with this run's (default: each run's source run). */
  referenceRunId?: string;
  method?: AttributionMethod;
  /** Top tokens per run (default 5). */
  topK?: number;
}

export interface CompareRequestOptions {
  /** Attribution method the tokens are coloured by; default the first one every run has. */
  method?: AttributionMethod;
}

/** One run of a comparison: its prompt tokens and their share of the run's prompt attribution. */
export interface CompareRun {
  runId: string;
  createdAt: string;
  modelName: string;
  modelPath: string;
  experiment: string;
  promptTokens: string[];
  /** Whether each prompt token starts a word (the run's tokens.wordStarts); absent for runs stored without it. */
  promptWordStarts?: boolean[];
  answerTokens: string[];
  answerText: string;
  /**
   * Per prompt position, the share of the run's prompt attribution (|values| summed over answer rows and
   * normalised to sum 1, so runs of models with different gradient scales compare); null when the run lacks
   * the method.
   */
  shares: (number | null)[];
  /** Whether the run has the compared method. */
  hasMethod: boolean;
  /** "source" for an encoder-decoder run: promptTokens are the source tokens the encoder read. */
  side?: 'prompt' | 'source';
  /**
   * When the comparison aligns words (CompareResult.alignedBy): promptTokens and shares are per word, and
   * wordSpans[w] = [start, end) are the word's token positions in the run's prompt (or source).
   */
  wordSpans?: [number, number][];
}

/**
 * Runs side by side. Example: `compareRuns([a, b], {method: 'saliency'})` → `{method: 'saliency', runs: [...],
 * alignment: {columns: [[0, 0], [1, null], …], matched: 14}, difference: [0.01, null, …], numbers: [...]}`.
 */
export interface CompareResult {
  method: AttributionMethod | null;
  /** Methods at least one of the runs has, in ATTRIBUTION_METHODS order. */
  methods: AttributionMethod[];
  runs: CompareRun[];
  /** Prompt tokens aligned by text (shared/token-alignment): columns[c][r] is run r's position or null. */
  alignment: TokenAlignment;
  /**
   * "tokens", or "words" when encoder-decoder and decoder-only runs are compared: their tokenizers split the
   * same text differently, so each run's tokens are joined into words (shared/token-alignment textWords) and
   * words are aligned by text, each word's share the sum of its tokens' shares.
   */
  alignedBy?: 'tokens' | 'words';
  /** Two runs only: per aligned column, share of run 2 − share of run 1 (null where either is missing). */
  difference?: (number | null)[];
  /** summarizeRuns numbers of the same runs, with run 1 as the reference for "answer changed". */
  numbers: RunNumbers[];
}

/** What every item of a dataset batch shares: an explain request without the item's own fields. */
export interface BatchRequestSettings {
  dtype?: string;
  generation: GenerationRequest;
  assistant?: AssistantRequest;
  methods: string[];
  options?: Partial<ExplainOptions>;
  device: DeviceChoice;
  tags?: string[];
  /** Memory budget of each item's run (bytes), as ExplainRequest.memoryBudgetBytes. */
  memoryBudgetBytes?: number;
}

/**
 * A dataset run from the UI. Example: `{experiment: 'support-faq', modelPath: '/models/tiny', datasetText:
 * '{"prompt": "When is support open?"}\n', settings: {generation: {maxNewTokens: 16}, methods: ['attention'], device: 'auto'}}`.
 * Items already finished in the experiment on the same model are skipped (resume).
 */
export interface StartBatchRequest {
  /** Absolute model folder; default the built-in demo model. */
  modelPath?: string;
  experiment: string;
  /** JSONL: one object per line (messages or prompt, optional answer, id, system, task, segments). */
  datasetText: string;
  settings: BatchRequestSettings;
  /**
   * An item another live process is running: "skip" (default) reports it skipped with a note; "wait" keeps it
   * queued, looks again every half second and runs it if that process ends without finishing it (the CLI).
   */
  busy?: 'skip' | 'wait';
}

/** Re-running stored runs (or every finished run of an experiment) on another model folder. */
export interface RerunRequest {
  runIds?: string[];
  experiment?: string;
  modelPath: string;
  /** Target experiment; default `<source experiment>@<model name>`. */
  to?: string;
  /** "keep" (default) teacher-forces the original answer; "generate" lets the new model answer. */
  answer?: 'keep' | 'generate';
  /** Default each source run's methods. */
  methods?: string[];
  device?: DeviceChoice;
  /** Overrides of the options recovered from each source run (e.g. igSteps). */
  options?: Partial<ExplainOptions>;
  dtype?: string;
  /** Memory budget of each rerun (bytes), as ExplainRequest.memoryBudgetBytes. */
  memoryBudgetBytes?: number;
}

/** Where one item of a batch stands. */
export interface BatchItemInfo {
  /** Dataset item key (batch) or source run id (rerun). */
  key: string;
  /** Dataset line (batch items). */
  line?: number;
  /** The run made for it (or the earlier finished run, when skipped). */
  runId?: string;
  stage: ProgressStage | 'skipped';
  error?: string;
}

/** A batch or rerun: its runs go through the run queue one after another. */
export interface BatchInfo {
  batchId: string;
  kind: 'dataset' | 'rerun';
  /** Target experiment(s), comma-separated when a rerun spans several. */
  experiment: string;
  modelPath: string;
  total: number;
  /** Items finished (done, failed, cancelled or skipped). */
  finished: number;
  failed: number;
  skipped: number;
  items: BatchItemInfo[];
  warnings: string[];
  /** ISO time it started. */
  startedAt: string;
  /** Set when the process running the batch (app or CLI) ended before every item was finished. */
  interrupted?: true;
}

/** Added to a run's ProgressEvent when the run belongs to a batch. */
export interface BatchProgress {
  batchId: string;
  /** The item's key. */
  item: string;
  /** 0-based index of the item in the batch. */
  index: number;
  total: number;
  /** Items finished so far (this one included once it is final). */
  finished: number;
}

/** A self-contained HTML report (main/report). */
export interface ExportReportRequest {
  runIds?: string[];
  experiment?: string;
}

export interface ExportedReport {
  html: string;
  /** Suggested file name, e.g. "support-faq-report.html". */
  fileName: string;
}

// ---------------------------------------------------------------------------------------------------------
// Jobs and events

/** Stages of a run job, in order (each method family's stage in the catalog's order); the last three are final. */
export type ProgressStage = 'queued' | 'load' | 'generate' | FamilyStage | 'store' | 'done' | 'failed' | 'cancelled';
export const PROGRESS_STAGES: readonly ProgressStage[] = Object.freeze([
  'queued', 'load', 'generate', ...METHOD_FAMILIES.map((family) => family.stage), 'store', 'done', 'failed', 'cancelled',
] satisfies ProgressStage[]);
export const FINAL_STAGES: readonly ProgressStage[] = ['done', 'failed', 'cancelled'];

/**
 * Progress of one run job. Example: `{runId: 'r_1', stage: 'attention', fraction: 0.5, message: 'layer 4/8'}`.
 * `fraction` is the fraction of the current stage (0…1) when known.
 */
export interface ProgressEvent {
  runId: string;
  stage: ProgressStage;
  fraction?: number;
  message?: string;
  /** Set with stage "failed". */
  error?: ApiErrorData;
  /** Set when the run is an item of a batch or rerun (startBatch, rerun). */
  batch?: BatchProgress;
}

/** A queued or running job (so a reloaded page can show progress it missed). */
export interface JobInfo {
  runId: string;
  stage: ProgressStage;
  fraction?: number;
  message?: string;
  /** ISO time the job was queued. */
  queuedAt: string;
}

/** Runs were created, changed, finished or deleted: lists showing them should refresh. */
export interface RunsChangedEvent {
  reason: 'created' | 'updated' | 'finished' | 'deleted';
  runIds: string[];
}

/** What the transports carry on their event channel (SSE in web mode, webContents.send in Electron). */
export type ApiEvent =
  | { type: 'progress'; progress: ProgressEvent }
  | { type: 'runsChanged'; change: RunsChangedEvent };

export type Unsubscribe = () => void;

// ---------------------------------------------------------------------------------------------------------
// The service interface

/** The request/response methods. Every one is async and takes and returns plain JSON. */
export interface WorkbenchMethods {
  listRuns(query?: RunListQuery): Promise<RunListResult>;
  /** Null when there is no such run. */
  getRun(id: string, options?: GetRunOptions): Promise<RunJson | null>;
  /** Tensors stored for a run (names, axes, shapes). Empty when there is no such run. */
  listTensors(runId: string): Promise<TensorInfo[]>;
  /** Null when the run or tensor does not exist. Bad indices throw invalid_argument. */
  getTensorSlice(runId: string, name: string, leadingIndex: number[]): Promise<TensorSlice | null>;
  /** Queues a background job; progress arrives as ProgressEvents for the returned runId. */
  createRun(request: ExplainRequest): Promise<CreateRunResult>;
  /** False when no such job is queued or running (already finished, or unknown). */
  cancelRun(id: string): Promise<{ cancelled: boolean }>;
  /** The updated row, or null when there is no such run. */
  updateRun(id: string, patch: RunPatch): Promise<RunSummary | null>;
  deleteRuns(ids: string[]): Promise<{ deleted: number }>;
  inspectModelFolder(path: string): Promise<FolderInfo>;
  recentModelFolders(): Promise<RecentModelFolder[]>;
  listDevices(): Promise<DeviceAvailability[]>;
  listExperiments(): Promise<ExperimentSummary[]>;
  listJobs(): Promise<JobInfo[]>;
  demoModelPath(): Promise<string>;
  appInfo(): Promise<AppInfo>;
  /** Native folder dialog (Electron only; elsewhere fails with code "unsupported"). Null when cancelled. */
  pickModelFolder(): Promise<string | null>;
  /** Aggregates the finished runs of an experiment (per-head grids, segment shares, top tokens). */
  aggregateExperiment(name: string, options?: AggregateRequestOptions): Promise<ExperimentAggregate>;
  /** Summary numbers per run (answer changed, top tokens, entropy, log-probability, IG completeness). Unknown ids: not_found. */
  summarizeRuns(ids: string[], options?: SummarizeRequestOptions): Promise<RunNumbers[]>;
  /** One metric over an experiment's finished runs in run order (metrics: shared/experiment-math TIMELINE_METRICS or `share:<method>:<segment>`). */
  experimentTimeline(name: string, metric: string): Promise<TimelineSeries>;
  /** Runs side by side, prompt tokens aligned by text, with the difference for two runs. */
  compareRuns(ids: string[], options?: CompareRequestOptions): Promise<CompareResult>;
  /** Queues every unfinished dataset item as a run job; progress arrives as ProgressEvents with `batch` set. */
  startBatch(request: StartBatchRequest): Promise<BatchInfo>;
  /** Queues reruns of stored runs (or a whole experiment) on another model folder, linked to their sources. */
  rerun(request: RerunRequest): Promise<BatchInfo>;
  /** Where a batch stands (one this service runs, or one stored by any door, the CLI's included); null when unknown. */
  getBatch(batchId: string): Promise<BatchInfo | null>;
  /** The newest stored batches (from the app or the CLI), newest first. */
  listBatches(): Promise<BatchInfo[]>;
  /** Cancels a batch's queued and running runs. */
  cancelBatch(batchId: string): Promise<{ cancelled: number }>;
  /** Renames an experiment (its runs follow). Fails when the new name exists. */
  renameExperiment(from: string, to: string): Promise<{ name: string }>;
  /** A self-contained HTML report of runs or of an experiment (main/report), for the UI's Export. */
  exportReport(request: ExportReportRequest): Promise<ExportedReport>;
}

/** The event subscriptions. */
export interface WorkbenchEvents {
  onProgress(listener: (event: ProgressEvent) => void): Unsubscribe;
  onRunsChanged(listener: (event: RunsChangedEvent) => void): Unsubscribe;
}

/** What views talk to, whatever the transport. */
export type WorkbenchApi = WorkbenchMethods & WorkbenchEvents;

export type ApiMethod = keyof WorkbenchMethods;

/** Every method name, in one list: transports and proxies are generated from it. */
export const API_METHODS = [
  'listRuns', 'getRun', 'listTensors', 'getTensorSlice', 'createRun', 'cancelRun', 'updateRun', 'deleteRuns',
  'inspectModelFolder', 'recentModelFolders', 'listDevices', 'listExperiments', 'listJobs', 'demoModelPath',
  'appInfo', 'pickModelFolder', 'aggregateExperiment', 'summarizeRuns', 'experimentTimeline', 'compareRuns',
  'startBatch', 'rerun', 'getBatch', 'listBatches', 'cancelBatch', 'renameExperiment', 'exportReport',
] as const satisfies readonly ApiMethod[];

// Compile-time check that API_METHODS lists every method of WorkbenchMethods.
type MissingMethods = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
const everyMethodListed: [MissingMethods] extends [never] ? true : MissingMethods = true;
void everyMethodListed;

export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && (API_METHODS as readonly string[]).includes(name);
}

export type ApiArgs<M extends ApiMethod> = Parameters<WorkbenchMethods[M]>;
export type ApiResult<M extends ApiMethod> = Awaited<ReturnType<WorkbenchMethods[M]>>;

// ---------------------------------------------------------------------------------------------------------
// Errors as data

/** Error codes the service uses; engine errors may add their own (e.g. model-folder codes). */
export const API_ERROR_CODES = {
  invalidArgument: 'invalid_argument',
  unknownMethod: 'unknown_method',
  notFound: 'not_found',
  unsupported: 'unsupported',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  cancelled: 'cancelled',
  /** The run would not fit: its memory estimate exceeds the budget, or the sequence the model's positions. */
  tooLarge: 'too_large',
  workerCrashed: 'worker_crashed',
  transport: 'transport',
  internal: 'internal',
} as const;

/** An error as it crosses a boundary. */
export interface ApiErrorData {
  name: string;
  code: string;
  message: string;
}

/** An error rebuilt from ApiErrorData (or thrown by the service with a code). */
export class ApiError extends Error {
  readonly code: string;

  constructor(code: string, message: string, name = 'ApiError') {
    super(message);
    this.code = code;
    this.name = name;
  }

  static fromData(data: ApiErrorData): ApiError {
    return new ApiError(data.code, data.message, data.name);
  }

  toData(): ApiErrorData {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Any thrown value as ApiErrorData: keeps `code` when the error has a string code, else "internal". */
export function toErrorData(error: unknown): ApiErrorData {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name || 'Error',
      code: typeof code === 'string' && code ? code : API_ERROR_CODES.internal,
      message: error.message || String(error),
    };
  }
  if (isApiErrorData(error)) return { name: error.name, code: error.code, message: error.message };
  return { name: 'Error', code: API_ERROR_CODES.internal, message: String(error) };
}

export function isApiErrorData(value: unknown): value is ApiErrorData {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.name === 'string' && typeof record.code === 'string' && typeof record.message === 'string';
}

// ---------------------------------------------------------------------------------------------------------
// Wire format shared by both transports

/** What a transport returns for one call: a value or an error, never a thrown transport-specific error. */
export type ApiResponse = { ok: true; value: unknown } | { ok: false; error: ApiErrorData };

/** HTTP: `POST /api/<method>` with this JSON body. */
export interface ApiRequestBody {
  args: unknown[];
}

/** HTTP header carrying the per-launch token. */
export const TOKEN_HEADER = 'x-llm-explainer-token';
/** URL query parameter that hands the token to the page once (the page moves it to sessionStorage). */
export const TOKEN_QUERY = 'token';
/** sessionStorage key the page keeps the token under. */
export const TOKEN_STORAGE_KEY = 'llm-explainer-token';
/** HTTP paths. */
export const API_PATH_PREFIX = '/api/';
export const EVENTS_PATH = '/api/events';

/** What the Electron preload exposes as `window.workbench` (one object, no logic). */
export interface WorkbenchBridge {
  invoke(method: string, args: unknown[]): Promise<ApiResponse>;
  onEvent(listener: (event: ApiEvent) => void): Unsubscribe;
}

/** IPC channel names (Electron). */
export const IPC_INVOKE_CHANNEL = 'api';
export const IPC_EVENT_CHANNEL = 'api-event';
