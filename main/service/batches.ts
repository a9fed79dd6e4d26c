// The one batch runner, for every door: the app's startBatch and rerun and the CLI's batch and rerun (through
// the in-process service, cli/batch-follow). Every item becomes an ordinary run job in the one job queue (so it
// runs in the inference child in Electron, can be cancelled like any run, and shows in listJobs), and this
// tracker remembers which runs belong to which batch: it claims dataset items in the store, adds the batch
// position to each run's progress events, stores an item's marked segments once its run is done, and writes
// the batch's progress to the store (store/batch-records) so another process and a restart see it. Requests and
// skip rules are experiments/batch and experiments/rerun; they are imported on first use, keeping start-up light.
import { checkAssistant } from './assistant';
import { resolve } from 'node:path';
import type { BatchInfo, BatchItemInfo, ExplainRequest, ProgressEvent, RerunRequest, StartBatchRequest } from '../../shared/api';
import { API_ERROR_CODES, ApiError, FINAL_STAGES } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import { parseDataset } from '../experiments/dataset';
import { hasMarkedSegments, storeMarkedSegments, type MarkedSpan } from '../experiments/segments';
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

interface ItemJob {
  runId: string;
  request: ExplainRequest;
  spans: MarkedSpan[];
}

/** A dataset item of a `busy: 'wait'` batch, claimed only when its turn comes. */
interface WaitingItem extends ItemJob {
  claim: { experiment: string; modelPath: string; tag: string };
}

/**
 * A `busy: 'wait'` batch (the CLI's) feeds the queue one item at a time and claims each item just before it
 * runs, so it holds only the item it is running (a batch started meanwhile elsewhere can take the others). An
 * item another live process is running waits (`busy`) and is looked at again after the other items: skipped
 * once that process finished it, run here if the process ended without finishing it.
 */
interface Feeder {
  pending: WaitingItem[];
  busy: WaitingItem[];
  /** The run id of the item in the job queue, if any. */
  active?: string;
  timer?: NodeJS.Timeout;
}

/** How often a batch looks again at items another live process is running. */
const CLAIM_POLL_MS = 500;

/**
 * Batches kept in memory while this process runs them; every batch is also written to the store
 * (store/batch-records), where getBatch and listBatches find it after a restart.
 */
const KEPT_BATCHES = 50;

export class BatchTracker {
  private readonly batches = new Map<string, BatchInfo>();
  private readonly byRun = new Map<string, TrackedItem>();
  private readonly feeders = new Map<string, Feeder>();
  private readonly endings = new Map<string, (() => void)[]>();

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
    const store = this.host.store;
    const finished = finishedItems(store, request.experiment, modelPath);
    const batch = this.newBatch('dataset', request.experiment, modelPath);
    const jobs: ItemJob[] = [];
    const waiting: WaitingItem[] = [];
    for (const item of items) {
      const earlier = finished.get(item.key);
      if (earlier !== undefined) {
        batch.items.push({ key: item.key, line: item.line, runId: earlier, stage: 'skipped' });
        // An interruption between storing the run and storing its segments leaves them out: add them now.
        if (item.spans.length > 0 && !hasMarkedSegments(store, earlier)) {
          batch.warnings.push(...storeMarkedSegments(store, store.getRun(earlier)!, itemSpans(item), item.key));
        }
        continue;
      }
      const runId = newRunId();
      const claim = { experiment: request.experiment, modelPath, tag: itemTag(item.key) };
      const job = { runId, request: itemRequest(item, settings, request.experiment), spans: itemSpans(item) };
      if (request.busy === 'wait') {
        batch.items.push({ key: item.key, line: item.line, runId, stage: 'queued' });
        waiting.push({ ...job, claim });
        continue;
      }
      // Claimed in the store until its job ends (finished()), so two batches on one dataset, from any doors and
      // processes, never run an item twice.
      const outcome = store.claimItem({ ...claim, runId });
      if (outcome.kind === 'done') {
        batch.items.push({ key: item.key, line: item.line, runId: outcome.runId, stage: 'skipped' });
        continue;
      }
      if (outcome.kind === 'busy') {
        batch.items.push({ key: item.key, line: item.line, runId: outcome.runId, stage: 'skipped', error: `another process is running this item (run ${outcome.runId})` });
        continue;
      }
      batch.items.push({ key: item.key, line: item.line, runId, stage: 'queued' });
      jobs.push(job);
    }
    if (request.busy !== 'wait') return this.queue(batch, jobs);
    this.feeders.set(batch.batchId, { pending: waiting, busy: [] });
    const queued = this.queue(batch, [], waiting);
    this.feed(batch);
    return queued;
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
    const jobs: ItemJob[] = [];
    const { runIds: _runIds, experiment: _experiment, to: _to, ...settings } = request;
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
      jobs.push({ runId, request: rerunRequest(source, { ...settings, modelPath }, experiment), spans: markedSpansOfRun(store, source) });
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

  /** Resolves with the batch once every item is final (at once for a batch this process does not run). */
  async whenFinished(batchId: string): Promise<BatchInfo | null> {
    const batch = this.batches.get(batchId);
    if (batch && batch.finished < batch.total) await new Promise<void>((resolve) => this.endings.set(batchId, [...(this.endings.get(batchId) ?? []), resolve]));
    return this.get(batchId);
  }

  /** Cancels the batch's queued, waiting and running items; returns how many were cancelled. */
  cancel(batchId: string): number {
    const batch = this.batches.get(batchId);
    if (!batch) return 0;
    let cancelled = 0;
    const feeder = this.feeders.get(batchId);
    this.feeders.delete(batchId);
    clearTimeout(feeder?.timer);
    const unfed = new Set([...(feeder?.pending ?? []), ...(feeder?.busy ?? [])].map((item) => item.runId));
    batch.items.forEach((item, index) => {
      if (!item.runId || isFinal(item.stage)) return;
      if (unfed.has(item.runId)) {
        this.setItem(batch, index, { stage: 'cancelled', error: 'Cancelled' });
        cancelled++;
      } else if (this.host.cancelJob(item.runId)) cancelled++;
    });
    return cancelled;
  }

  /** A run's progress event with its batch position added (unchanged for runs outside batches). */
  decorate(progress: ProgressEvent): ProgressEvent {
    const tracked = this.byRun.get(progress.runId);
    if (!tracked) return progress;
    const { batch, index } = tracked;
    const item = batch.items[index];
    const error = progress.stage === 'failed' || progress.stage === 'cancelled' ? (progress.error?.message ?? progress.message) : item.error;
    if (item.stage !== progress.stage) this.setItem(batch, index, { stage: progress.stage, error });
    return { ...progress, batch: { batchId: batch.batchId, item: item.key, index, total: batch.total, finished: batch.finished } };
  }

  /** After a run job ends: its item claim is released and a finished item's marked segments are stored. */
  finished(outcome: JobOutcome): void {
    const tracked = this.byRun.get(outcome.runId);
    if (tracked?.batch.kind === 'dataset') this.host.store.releaseClaim(outcome.runId);
    if (tracked) this.storeSegments(tracked, outcome);
    const feeder = tracked && this.feeders.get(tracked.batch.batchId);
    if (feeder?.active === outcome.runId) {
      feeder.active = undefined;
      this.feed(tracked!.batch);
    }
  }

  /** A finished item's marked segments, stored with its run; problems become the batch's warnings. */
  private storeSegments(tracked: TrackedItem, outcome: JobOutcome): void {
    if (outcome.stage !== 'done' || tracked.spans.length === 0) return;
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

  /** Changes an item's stage (and error, run), writes it to the store, and ends the batch's waiters when it is done. */
  private setItem(batch: BatchInfo, index: number, change: Partial<BatchItemInfo>): void {
    const item = Object.assign(batch.items[index], change);
    if (item.error === undefined) delete item.error;
    count(batch);
    this.persist(() => this.host.store.updateBatchItem(batch.batchId, index, item));
    if (batch.finished >= batch.total) this.ended(batch.batchId);
  }

  private ended(batchId: string): void {
    for (const resolve of this.endings.get(batchId) ?? []) resolve();
    this.endings.delete(batchId);
  }

  /**
   * Queues the next item of a `busy: 'wait'` batch whose turn has come (see Feeder): claims pending items in order
   * until one is free; when only busy ones are left, looks at them again after CLAIM_POLL_MS.
   */
  private feed(batch: BatchInfo): void {
    const feeder = this.feeders.get(batch.batchId);
    if (!feeder || feeder.active || feeder.timer) return;
    while (feeder.pending.length > 0) {
      const job = feeder.pending.shift()!;
      const index = batch.items.findIndex((item) => item.runId === job.runId);
      let outcome;
      try {
        outcome = this.host.store.claimItem({ ...job.claim, runId: job.runId });
      } catch {
        feeder.busy.push(job); // e.g. the store stayed locked by another writer: look again with the busy ones
        continue;
      }
      if (outcome.kind === 'done') this.setItem(batch, index, { stage: 'skipped', runId: outcome.runId });
      else if (outcome.kind === 'busy') feeder.busy.push(job);
      else {
        feeder.active = job.runId;
        this.host.addJob(job.runId, job.request);
        return;
      }
    }
    if (feeder.busy.length === 0) {
      this.feeders.delete(batch.batchId);
      return;
    }
    feeder.timer = setTimeout(() => {
      feeder.timer = undefined;
      feeder.pending = feeder.busy.splice(0);
      try {
        this.feed(batch);
      } catch {
        // The store was closed under a waiting batch (the service is closing): nothing left to run.
      }
    }, CLAIM_POLL_MS);
  }

  /** Stops the batches waiting for busy items (they end cancelled); the service is closing. */
  close(): void {
    for (const batchId of [...this.feeders.keys()]) this.cancel(batchId);
  }

  private queue(batch: BatchInfo, jobs: ItemJob[], waiting: WaitingItem[] = []): BatchInfo {
    batch.total = batch.items.length;
    count(batch);
    this.host.store.saveBatch(batch, true);
    this.batches.set(batch.batchId, batch);
    this.forgetOld();
    for (const job of [...jobs, ...waiting]) {
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
