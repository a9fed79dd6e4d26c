// Batches and reruns as the service runs them: every item becomes an ordinary run job in the one job queue
// (so it runs in the inference child in Electron, can be cancelled like any run, and shows in listJobs), and
// this tracker remembers which runs belong to which batch: it adds the batch position to each run's progress
// events and stores an item's marked segments once its run is done. Requests, skip rules and segment storage
// are experiments/batch, experiments/rerun and experiments/segments, shared with the CLI's runner
// (service/batch-runs); they are imported on first use, keeping start-up light.
import { checkAssistant } from './assistant';
import { resolve } from 'node:path';
import type { BatchInfo, BatchItemInfo, ExplainRequest, ProgressEvent, RerunRequest, StartBatchRequest } from '../../shared/api';
import { API_ERROR_CODES, ApiError, FINAL_STAGES } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import { parseDataset } from '../experiments/dataset';
import { storeMarkedSegments, type MarkedSpan } from '../experiments/segments';
import type { RunStore } from '../store/run-store';
import { newRunId } from '../store/run-rows';
import type { JobOutcome } from './job-queue';

/** What the tracker needs from the service: the queue, the store and the model folder helpers. */
export interface BatchHost {
  store: RunStore;
  /** Queues one run job with this id. */
  addJob(runId: string, request: ExplainRequest): void;
  cancelJob(runId: string): boolean;
  /** The built-in demo model's folder. */
  demoModel(): Promise<string>;
  /** A model folder's display name (engine inspectModelFolder). */
  modelName(path: string): Promise<string>;
  /** Throws invalid_argument when the folder does not exist. */
  checkFolder(path: string): Promise<void>;
}

interface TrackedItem {
  batch: BatchInfo;
  index: number;
  spans: MarkedSpan[];
}

/**
 * Batches kept in memory while this process runs them; every batch is also written to the store
 * (store/batch-records), where getBatch and listBatches find it after a restart.
 */
const KEPT_BATCHES = 50;

export class BatchTracker {
  private readonly batches = new Map<string, BatchInfo>();
  private readonly byRun = new Map<string, TrackedItem>();

  constructor(private readonly host: BatchHost) {}

  /** Parses the dataset, skips items finished before on the same model, queues the rest. */
  async startBatch(request: StartBatchRequest): Promise<BatchInfo> {
    const { finishedItems, itemRequest, itemSpans, itemTag } = await import('../experiments/batch');
    const items = parseDataset(request.datasetText, 'dataset');
    const modelPath = resolve(request.modelPath ?? (await this.host.demoModel()));
    await this.host.checkFolder(modelPath);
    const settings = { ...request.settings, modelPath };
    if (settings.assistant) await checkAssistant(modelPath, settings.assistant.modelPath, 'startBatch');
    for (const item of items) {
      if (item.answer === undefined && settings.generation.maxNewTokens < 1) {
        throw new ApiError(API_ERROR_CODES.invalidArgument, `startBatch: dataset line ${item.line} has no answer, so settings.generation.maxNewTokens must be at least 1`);
      }
    }
    const finished = finishedItems(this.host.store, request.experiment, modelPath);
    const batch = this.newBatch('dataset', request.experiment, modelPath);
    const jobs: { runId: string; request: ExplainRequest; spans: MarkedSpan[] }[] = [];
    for (const item of items) {
      const earlier = finished.get(item.key);
      if (earlier !== undefined) {
        batch.items.push({ key: item.key, line: item.line, runId: earlier, stage: 'skipped' });
        continue;
      }
      const runId = newRunId();
      // Claimed in the store until its job ends (finished()), as the CLI's batch does, so a batch started here
      // and one started elsewhere on the same dataset never run an item twice.
      const claim = this.host.store.claimItem({ experiment: request.experiment, modelPath, tag: itemTag(item.key), runId });
      if (claim.kind === 'done') {
        batch.items.push({ key: item.key, line: item.line, runId: claim.runId, stage: 'skipped' });
        continue;
      }
      if (claim.kind === 'busy') {
        batch.items.push({ key: item.key, line: item.line, runId: claim.runId, stage: 'skipped', error: `another process is running this item (run ${claim.runId})` });
        continue;
      }
      batch.items.push({ key: item.key, line: item.line, runId, stage: 'queued' });
      jobs.push({ runId, request: itemRequest(item, settings, request.experiment), spans: itemSpans(item) });
    }
    return this.queue(batch, jobs);
  }

  /** Queues reruns of stored runs (or of an experiment's finished runs) on another model folder. */
  async rerun(request: RerunRequest): Promise<BatchInfo> {
    const { earlierRerun, markedSpansOfRun, rerunExperimentName, rerunRequest } = await import('../experiments/rerun');
    const store = this.host.store;
    let sources: RunJson[];
    if (request.runIds) {
      sources = request.runIds.map((id) => {
        const run = store.getRun(id);
        if (!run) throw new ApiError(API_ERROR_CODES.notFound, `rerun: no run with id ${id}`);
        return run;
      });
    } else {
      sources = store.runsOfExperiment(request.experiment!).filter((run) => run.status === 'done');
      if (sources.length === 0) throw new ApiError(API_ERROR_CODES.notFound, `rerun: experiment ${request.experiment} has no finished runs`);
    }
    const modelPath = resolve(request.modelPath);
    await this.host.checkFolder(modelPath);
    const modelName = await this.host.modelName(modelPath);
    const experimentOf = (source: RunJson) => request.to ?? rerunExperimentName(source.experiment, modelName);
    const batch = this.newBatch('rerun', [...new Set(sources.map(experimentOf))].join(', '), modelPath);
    const jobs: { runId: string; request: ExplainRequest; spans: MarkedSpan[] }[] = [];
    for (const source of sources) {
      if (source.status !== 'done') {
        batch.items.push({ key: source.id, stage: 'failed', error: `run ${source.id} is ${source.status}; only finished runs can be re-run` });
        continue;
      }
      const experiment = experimentOf(source);
      const earlier = earlierRerun(store, source.id, experiment, modelPath);
      if (earlier) {
        batch.items.push({ key: source.id, runId: earlier.id, stage: 'skipped' });
        continue;
      }
      const runId = newRunId();
      batch.items.push({ key: source.id, runId, stage: 'queued' });
      const options = { modelPath, answer: request.answer, methods: request.methods, device: request.device };
      jobs.push({ runId, request: rerunRequest(source, options, experiment), spans: markedSpansOfRun(store, source) });
    }
    return this.queue(batch, jobs);
  }

  get(batchId: string): BatchInfo | null {
    const batch = this.batches.get(batchId);
    return batch ? snapshot(batch) : (this.host.store.getBatch(batchId) ?? null);
  }

  /** The newest batches, newest first: this process's as they run, earlier ones as the store has them. */
  list(): BatchInfo[] {
    const stored = this.host.store.recentBatches(KEPT_BATCHES);
    return stored.map((batch) => (this.batches.has(batch.batchId) ? snapshot(this.batches.get(batch.batchId)!) : batch));
  }

  /** Cancels the batch's queued and running items; returns how many were cancelled. */
  cancel(batchId: string): number {
    const batch = this.batches.get(batchId);
    if (!batch) return 0;
    let cancelled = 0;
    for (const item of batch.items) {
      if (item.runId && !isFinal(item.stage) && this.host.cancelJob(item.runId)) cancelled++;
    }
    return cancelled;
  }

  /** A run's progress event with its batch position added (unchanged for runs outside batches). */
  decorate(progress: ProgressEvent): ProgressEvent {
    const tracked = this.byRun.get(progress.runId);
    if (!tracked) return progress;
    const { batch, index } = tracked;
    const item = batch.items[index];
    const changed = item.stage !== progress.stage;
    item.stage = progress.stage;
    if (progress.stage === 'failed' || progress.stage === 'cancelled') item.error = progress.error?.message ?? progress.message;
    count(batch);
    if (changed) this.persist(() => this.host.store.updateBatchItem(batch.batchId, index, item));
    return { ...progress, batch: { batchId: batch.batchId, item: item.key, index, total: batch.total, finished: batch.finished } };
  }

  /** After a run job ends: its item claim is released and a finished item's marked segments are stored. */
  finished(outcome: JobOutcome): void {
    const tracked = this.byRun.get(outcome.runId);
    if (tracked?.batch.kind === 'dataset') this.host.store.releaseClaim(outcome.runId);
    if (!tracked || outcome.stage !== 'done' || tracked.spans.length === 0) return;
    const run = this.host.store.getRun(outcome.runId);
    if (!run) return;
    const key = tracked.batch.items[tracked.index].key;
    const before = tracked.batch.warnings.length;
    try {
      tracked.batch.warnings.push(...storeMarkedSegments(this.host.store, run, tracked.spans, key));
    } catch (error) {
      tracked.batch.warnings.push(`${key}: segments not stored (${error instanceof Error ? error.message : String(error)})`);
    }
    if (tracked.batch.warnings.length > before) this.persist(() => this.host.store.updateBatchWarnings(tracked.batch.batchId, tracked.batch.warnings));
  }

  private newBatch(kind: BatchInfo['kind'], experiment: string, modelPath: string): BatchInfo {
    return { batchId: `b_${newRunId().slice(2)}`, kind, experiment, modelPath, total: 0, finished: 0, failed: 0, skipped: 0, items: [], warnings: [], startedAt: new Date().toISOString() };
  }

  private queue(batch: BatchInfo, jobs: { runId: string; request: ExplainRequest; spans: MarkedSpan[] }[]): BatchInfo {
    batch.total = batch.items.length;
    count(batch);
    this.host.store.saveBatch(batch);
    this.batches.set(batch.batchId, batch);
    this.forgetOld();
    for (const job of jobs) {
      const index = batch.items.findIndex((item) => item.runId === job.runId);
      this.byRun.set(job.runId, { batch, index, spans: job.spans });
    }
    // The answer describes the batch as queued; the first job may start (and report) at once.
    const queued = snapshot(batch);
    for (const job of jobs) this.host.addJob(job.runId, job.request);
    return queued;
  }

  /** Writes progress to the store; a failed write must not stop the batch (memory still answers). */
  private persist(write: () => void): void {
    try {
      write();
    } catch {
      // e.g. the store was closed while the last event of a cancelled batch arrived.
    }
  }

  private forgetOld(): void {
    while (this.batches.size > KEPT_BATCHES) {
      const [oldest] = this.batches.keys();
      const batch = this.batches.get(oldest)!;
      if (batch.finished < batch.total) return;
      this.batches.delete(oldest);
      for (const item of batch.items) if (item.runId) this.byRun.delete(item.runId);
    }
  }
}

function isFinal(stage: BatchItemInfo['stage']): boolean {
  return stage === 'skipped' || (FINAL_STAGES as readonly string[]).includes(stage);
}

function count(batch: BatchInfo): void {
  batch.finished = batch.items.filter((item) => isFinal(item.stage)).length;
  batch.failed = batch.items.filter((item) => item.stage === 'failed').length;
  batch.skipped = batch.items.filter((item) => item.stage === 'skipped').length;
}

/** A copy the caller may keep (the tracker goes on changing its own). */
function snapshot(batch: BatchInfo): BatchInfo {
  return { ...batch, items: batch.items.map((item) => ({ ...item })), warnings: [...batch.warnings] };
}
