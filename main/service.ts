// The workbench API, implemented once. Every door — Electron IPC, the loopback HTTP server, tests — calls this
// object; nothing here knows which door a request came through. Arguments are validated on every call
// (shared/api-validation), errors leave as ApiError with a code, and run jobs go through one queue.
import { checkAssistant } from './service/assistant';
import { stat } from 'node:fs/promises';
import {
  API_ERROR_CODES,
  API_METHODS,
  ApiError,
  toErrorData,
  type ApiEvent,
  type ApiMode,
  type ApiResponse,
  type AppInfo,
  type BatchInfo,
  type DeviceAvailability,
  type ExplainRequest,
  type FolderInfo,
  type GetRunOptions,
  type ProgressEvent,
  type RunListQuery,
  type RunPatch,
  type RunsChangedEvent,
  type TensorSlice,
  type Unsubscribe,
  type WorkbenchApi,
  type WorkbenchMethods,
} from '../shared/api';
import { validateCall } from '../shared/api-validation';
import { METHOD_IDS } from '../shared/method-catalog';
import type { RunJson } from '../shared/run';
import { RunStore } from './store/run-store';
import type { RunReader } from './store/run-reader';
import { newRunId } from './store/run-rows';
import { JobQueue, type JobOutcome, type JobRunner } from './service/job-queue';
import { describeModelFolder, requestTokenIdProblem, type InspectFolder, type NormalizeConfig } from './service/folder-info';
import { BatchTracker } from './service/batches';
import { compareRuns } from './service/compare';
import { aggregateExperiment } from './experiments/aggregate';
import { experimentTimeline, summarizeRuns } from './experiments/summary';
import { storedRunJson } from './run-export';

export type { JobRunner, JobContext } from './service/job-queue';

/** Engine functions the service calls directly (cheap ones; the heavy work goes through `runJob`). */
export interface ServiceEngine {
  inspectModelFolder: InspectFolder;
  normalizeConfig: NormalizeConfig;
  availableDevices(): DeviceAvailability[];
  /** Why a request cannot fit (memory estimate over budget, sequence over the model's positions), if it cannot. */
  refusalOf(modelPath: string, request: ExplainRequest): Promise<string | undefined>;
}

export interface WorkbenchServiceOptions {
  /** The run store; a read-only RunReader gives a reading service (writes answer `unsupported`). */
  store: RunStore | RunReader;
  /** Runs one job: in-process (main/service/pipeline-runner) or in a child (main/service/worker-runner). */
  runJob: JobRunner;
  /** The built-in demo model's folder, built on first use (engine `ensureDemoModel`). */
  demoModel(): Promise<string>;
  /** SQLite file of `store`, shown by appInfo. */
  databasePath: string;
  mode: ApiMode;
  /** App version (main/version APP_VERSION). */
  version: string;
  /** Defaults to the real engine modules, loaded on first use (keeps onnxruntime out of startup). */
  engine?: Partial<ServiceEngine>;
  /** Native folder dialog; only the Electron shell provides one. */
  pickModelFolder?: () => Promise<string | null>;
}

/** The API plus what transports need. */
export interface WorkbenchService extends WorkbenchApi {
  /**
   * Validates and runs one call by name, as the transports receive it; never throws.
   * Example: `await service.call('getRun', [42])` → `{ok: false, error: {code: 'invalid_argument', message:
   * 'getRun: id must be a string (got the number 42)', name: 'ApiError'}}`.
   */
  call(method: unknown, args: unknown): Promise<ApiResponse>;
  /** Every event, as the transports forward them. */
  onEvent(listener: (event: ApiEvent) => void): Unsubscribe;
  /** Resolves when no job is queued or running. */
  idle(): Promise<void>;
  /** Resolves with a batch this service runs once every item is final (the CLI's batch and rerun wait on it). */
  batchFinished(batchId: string): Promise<BatchInfo | null>;
  /** Cancels queued and running jobs and waits for them. The store is the caller's to close. */
  close(): Promise<void>;
}

/**
 * Creates the service. Example: `const api = createWorkbenchService({store, runJob, demoModel, databasePath,
 * mode: 'web', version}); await api.listRuns({limit: 20})` → `{rows: [...], total: 3}`.
 */
export function createWorkbenchService(options: WorkbenchServiceOptions): WorkbenchService {
  const { store } = options;
  /** The store for a write; a reading service (CLI show/report on a store it may not write) refuses. */
  const writable = (method: string): RunStore => {
    if (store instanceof RunStore) return store;
    throw new ApiError(API_ERROR_CODES.unsupported, `${method}: the run store ${options.databasePath} is open read-only`);
  };
  const listeners = new Set<(event: ApiEvent) => void>();
  const emit = (event: ApiEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // One broken listener (e.g. a closed connection) must not stop the others.
      }
    }
  };
  const runsChanged = (change: RunsChangedEvent) => emit({ type: 'runsChanged', change });

  const queue = new JobQueue({
    run: options.runJob,
    onProgress: (progress: ProgressEvent) => emit({ type: 'progress', progress: batches?.decorate(progress) ?? progress }),
    onFinished: (outcome) => {
      settleStoredRun(writable('runJob'), outcome);
      batches?.finished(outcome);
      runsChanged({ reason: 'finished', runIds: [outcome.runId] });
    },
  });

  let engine: Promise<ServiceEngine> | undefined;
  const loadEngine = () => (engine ??= loadDefaultEngine(options.engine));

  // Batches and reruns: each item is one run job in the queue above (main/service/batches); a reading
  // service has none.
  const batches = store instanceof RunStore ? new BatchTracker({
    store,
    addJob: (runId, request) => {
      queue.add(runId, request);
      runsChanged({ reason: 'created', runIds: [runId] });
    },
    cancelJob: (runId) => queue.cancel(runId),
    demoModel: options.demoModel,
    modelName: async (path) => {
      const { inspectModelFolder, normalizeConfig } = await loadEngine();
      return (await describeModelFolder(path, inspectModelFolder, normalizeConfig)).name;
    },
    checkFolder: (path) => checkFolderExists(path, 'startBatch/rerun'),
  }) : undefined;
  const batchesFor = (method: string): BatchTracker => {
    writable(method);
    return batches!;
  };

  const methods: WorkbenchMethods = {
    async listRuns(query?: RunListQuery) {
      return store.listRuns(query ?? {});
    },

    async getRun(id: string, getOptions?: GetRunOptions) {
      return storedRunJson(store, id, getOptions ?? {}) ?? null;
    },

    async listTensors(runId: string) {
      return store.tensorInfo(runId).map(({ name, axes, shape, encoding }) => ({ name, axes, shape, encoding }));
    },

    async getTensorSlice(runId: string, name: string, leadingIndex: number[]): Promise<TensorSlice | null> {
      const info = store.tensorInfo(runId).find((tensor) => tensor.name === name);
      if (!info) return null;
      if (leadingIndex.length > info.shape.length) {
        throw new ApiError(
          API_ERROR_CODES.invalidArgument,
          `getTensorSlice: ${name} has ${info.shape.length} axes (${info.axes.join(', ')}); leadingIndex has ${leadingIndex.length}`,
        );
      }
      leadingIndex.forEach((index, axis) => {
        if (index >= info.shape[axis]) {
          throw new ApiError(
            API_ERROR_CODES.invalidArgument,
            `getTensorSlice: leadingIndex[${axis}] = ${index} is out of range for axis ${info.axes[axis]} of size ${info.shape[axis]}`,
          );
        }
      });
      const slice = store.readTensorSlice(runId, name, leadingIndex);
      if (!slice) return null;
      return {
        name,
        axes: info.axes.slice(leadingIndex.length),
        shape: slice.shape,
        data: Array.from(slice.data),
      };
    },

    async createRun(request: ExplainRequest) {
      writable('createRun');
      if (request.modelPath !== undefined) await checkFolderExists(request.modelPath);
      // Exact ids past the vocabulary are refused here, before a run exists (the pipeline checks again).
      const folder = async () => request.modelPath ?? (await options.demoModel());
      const names = { inputIds: 'inputIds', answerIds: 'answerIds', foilIds: 'options.foilIds' };
      const problem = await requestTokenIdProblem(request, folder, (await loadEngine()).normalizeConfig, names);
      if (problem) throw new ApiError(API_ERROR_CODES.invalidArgument, `createRun: ${problem}`);
      if (request.assistant) await checkAssistant(request.modelPath ?? (await options.demoModel()), request.assistant.modelPath, 'createRun');
      // Refused before a run row exists or a session loads: the caller gets too_large (HTTP 422) and can change it.
      const refusal = await (await loadEngine()).refusalOf(request.modelPath ?? (await options.demoModel()), request);
      if (refusal) throw new ApiError(API_ERROR_CODES.tooLarge, `createRun: ${refusal}`);
      const runId = newRunId();
      queue.add(runId, request);
      runsChanged({ reason: 'created', runIds: [runId] });
      return { runId };
    },

    async cancelRun(id: string) {
      if (queue.cancel(id)) return { cancelled: true };
      // A run left behind by a process that ended (interrupted, or still marked running) can be cancelled too.
      const cancelled = writable('cancelRun').cancelOrphanedRun(id);
      if (cancelled) runsChanged({ reason: 'updated', runIds: [id] });
      return { cancelled };
    },

    async updateRun(id: string, patch: RunPatch) {
      if (!store.getRunSummary(id)) return null;
      const summary = writable('updateRun').updateRun(id, patch);
      runsChanged({ reason: 'updated', runIds: [id] });
      return summary;
    },

    async deleteRuns(ids: string[]) {
      const writer = writable('deleteRuns');
      const running = ids.filter((id) => queue.has(id));
      for (const id of running) queue.cancel(id);
      const deleted = writer.deleteRuns(ids);
      if (deleted > 0) runsChanged({ reason: 'deleted', runIds: ids });
      return { deleted };
    },

    async inspectModelFolder(path: string): Promise<FolderInfo> {
      const { inspectModelFolder, normalizeConfig } = await loadEngine();
      return describeModelFolder(path, inspectModelFolder, normalizeConfig);
    },

    async recentModelFolders() {
      return store.recentModelFolders();
    },

    async listDevices() {
      return (await loadEngine()).availableDevices();
    },

    async listExperiments() {
      return store.listExperiments();
    },

    async listJobs() {
      return queue.list();
    },

    async demoModelPath() {
      return options.demoModel();
    },

    async appInfo(): Promise<AppInfo> {
      return {
        productName: 'LLM Explainer Workbench',
        version: options.version,
        mode: options.mode,
        platform: process.platform,
        databasePath: options.databasePath,
        canPickFolder: options.pickModelFolder !== undefined,
        methods: [...METHOD_IDS],
      };
    },

    async pickModelFolder() {
      if (!options.pickModelFolder) {
        throw new ApiError(API_ERROR_CODES.unsupported, 'pickModelFolder: there is no folder dialog in web mode; type the folder path instead');
      }
      return options.pickModelFolder();
    },

    async aggregateExperiment(name, aggregateOptions) {
      return aggregateExperiment(store, name, aggregateOptions ?? {});
    },

    async summarizeRuns(ids, summaryOptions) {
      return summarizeRuns(store, ids, summaryOptions ?? {});
    },

    async experimentTimeline(name, metric) {
      return experimentTimeline(store, name, metric);
    },

    async compareRuns(ids, compareOptions) {
      return compareRuns(store, ids, compareOptions?.method);
    },

    async startBatch(request) {
      return batchesFor('startBatch').startBatch(request);
    },

    async rerun(request) {
      return batchesFor('rerun').rerun(request);
    },

    async getBatch(batchId) {
      return batches ? batches.get(batchId) : (store.getBatch(batchId) ?? null);
    },

    async listBatches() {
      return batches ? batches.list() : store.recentBatches(50);
    },

    async cancelBatch(batchId) {
      return { cancelled: batches?.cancel(batchId) ?? 0 };
    },

    async renameExperiment(from, to) {
      writable('renameExperiment').renameExperiment(from, to);
      const ids = store.runsOfExperiment(to).map((run) => run.id);
      if (ids.length > 0) runsChanged({ reason: 'updated', runIds: ids });
      return { name: to };
    },

    async exportReport(request) {
      // The report is recorded through this very service (its views' calls, answered as the app answers them).
      // The writer reads the renderer bundle from disk: loaded on first use only.
      const { exportReport } = await import('./report/write-report');
      return exportReport(service, request);
    },
  };

  // Every method, validated, with store/engine errors turned into ApiErrors: the one wrapper all doors share.
  const validated = {} as WorkbenchMethods;
  for (const method of API_METHODS) {
    const implementation = methods[method] as (...args: unknown[]) => Promise<unknown>;
    (validated as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      validateCall(method, args);
      try {
        return await implementation(...args.map((value) => (value === null ? undefined : value)));
      } catch (error) {
        throw clientError(method, error);
      }
    };
  }

  const service: WorkbenchService = {
    ...validated,
    onProgress(listener) {
      const relay = (event: ApiEvent) => {
        if (event.type === 'progress') listener(event.progress);
      };
      listeners.add(relay);
      return () => listeners.delete(relay);
    },
    onRunsChanged(listener) {
      const relay = (event: ApiEvent) => {
        if (event.type === 'runsChanged') listener(event.change);
      };
      listeners.add(relay);
      return () => listeners.delete(relay);
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async call(method: unknown, args: unknown): Promise<ApiResponse> {
      try {
        validateCall(method, args);
        const value = await (validated[method] as (...args: unknown[]) => Promise<unknown>)(...(args as unknown[]));
        return { ok: true, value: value ?? null };
      } catch (error) {
        return { ok: false, error: clientError(String(method), error).toData() };
      }
    },
    idle: () => queue.idle(),
    batchFinished: async (batchId) => (batches ? batches.whenFinished(batchId) : (store.getBatch(batchId) ?? null)),
    close: async () => {
      batches?.close();
      await queue.close();
    },
  };
  return service;
}

/**
 * An error as a client may see it: always named "ApiError", one line, with the thrower's code when it is one of
 * ours (lower_snake_case: invalid_argument, invalid_dataset, not_found, …) and "internal" otherwise (Node's
 * ENOENT / ERR_*, SQLite's SQLITE_*, a TypeError without a code), so no internal error name or stack leaves.
 *
 * @example clientError('listRuns', new DatasetError('dataset', [])) // → ApiError {code: 'invalid_dataset', …}
 */
export function clientError(method: string, error: unknown): ApiError {
  const data = toErrorData(error);
  const message = data.message.split('\n')[0];
  if (/^[a-z]+(_[a-z]+)*$/.test(data.code)) return new ApiError(data.code, message);
  return new ApiError(API_ERROR_CODES.internal, `${method} failed: ${message}`);
}

async function checkFolderExists(path: string, method = 'createRun'): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: model folder not found: ${path}`);
  if (!info.isDirectory()) throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: ${path} is a file, not a model folder`);
}

/**
 * After a job ends, the stored row must say so. The pipeline marks its own failures; this covers the cases it
 * cannot: the child process died, or the job was cancelled before the pipeline noticed.
 */
function settleStoredRun(store: RunStore, outcome: JobOutcome): void {
  if (outcome.stage === 'done') return;
  const run = store.getRun(outcome.runId);
  if (!run || run.status !== 'running') return;
  if (outcome.stage === 'cancelled') store.failRun(outcome.runId, 'cancelled by the user', 'cancelled');
  else store.failRun(outcome.runId, outcome.error?.message ?? 'failed', 'failed');
}

async function loadDefaultEngine(overrides: Partial<ServiceEngine> = {}): Promise<ServiceEngine> {
  const needsFolder = !overrides.inspectModelFolder;
  const needsConfig = !overrides.normalizeConfig;
  const needsRuntime = !overrides.availableDevices;
  const needsCheck = !overrides.refusalOf;
  const [folder, config, runtime, check] = await Promise.all([
    needsFolder ? import('./engine/model-folder') : undefined,
    needsConfig ? import('./engine/config') : undefined,
    needsRuntime ? import('./engine/runtime') : undefined,
    needsCheck ? import('./engine/memory-check') : undefined,
  ]);
  return {
    inspectModelFolder: overrides.inspectModelFolder ?? folder!.inspectModelFolder,
    normalizeConfig: overrides.normalizeConfig ?? config!.normalizeConfig,
    availableDevices: overrides.availableDevices ?? runtime!.availableDevices,
    refusalOf: overrides.refusalOf ?? check!.refusalOf,
  };
}
