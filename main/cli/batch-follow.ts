// A batch or rerun as the CLI makes it: started through the service (startBatch or rerun, the one batch runner
// that the app uses too, so its progress and claims are in the store), followed by its progress events until
// every item is final, and summed up as the result the `batch` and `rerun` commands print and write with
// --json. A stop signal cancels the batch through the service: the running item is stored as cancelled, the
// items not reached are neither completed nor failed, and running the same command again resumes.
import { ApiError, FINAL_STAGES, type BatchInfo, type BatchItemInfo, type ProgressEvent, type ProgressStage } from '../../shared/api';
import type { WorkbenchService } from '../service';
import { runFailure } from './service-run';

/** Progress of a batch or rerun: items so far and the current item's stage. */
export interface QueueProgress {
  /** Items finished in this call (done or failed), skipped ones included. */
  done: number;
  total: number;
  skipped: number;
  failed: number;
  /** The item being run (absent between items). */
  item?: string;
  stage?: ProgressStage;
  /** Fraction of the current stage, when known. */
  fraction?: number;
  message?: string;
}

export interface QueueItemResult {
  /** The item key (batch) or source run id (rerun). */
  key: string;
  runId: string;
}

export interface QueueFailure {
  key: string;
  /** Dataset line, for batch items. */
  line?: number;
  /** The failed run's id (it stays in the store with status "failed" and its error). */
  runId?: string;
  error: string;
}

/** What a batch or rerun did. */
export interface QueueResult {
  experiment: string;
  total: number;
  /** Runs made in this call. */
  completed: QueueItemResult[];
  /** Items finished before (a resumed batch): not redone. */
  skipped: QueueItemResult[];
  failed: QueueFailure[];
  /** True when the signal stopped the work; the items not reached are neither completed nor failed. */
  cancelled: boolean;
  /** Non-fatal notes, e.g. a marked segment whose text was not found in the run's tokens. */
  warnings: string[];
}

export interface FollowOptions {
  signal?: AbortSignal;
  onProgress?: (progress: QueueProgress) => void;
}

/**
 * Starts a batch with `start` (service.startBatch or service.rerun) and resolves with its result once every item
 * is final. A failure before the run row exists (unreadable model folder, over the memory budget) would fail
 * every item the same way: the batch is cancelled and that error thrown, its code kept (too_large exits 2).
 *
 * @example await followBatch(service, () => service.startBatch({experiment: 'faq', datasetText, settings, busy: 'wait'}))
 * // → {experiment: 'faq', total: 2, completed: [{key: 'hours', runId: 'r_…'}, …], skipped: [], failed: [], cancelled: false, warnings: []}
 */
export async function followBatch(service: WorkbenchService, start: () => Promise<BatchInfo>, options: FollowOptions = {}): Promise<QueueResult> {
  let batch: BatchInfo | undefined;
  const early: ProgressEvent[] = [];
  let fatal: ApiError | undefined;
  const checks: Promise<void>[] = [];
  const cancel = () => void (batch && service.cancelBatch(batch.batchId));
  const handle = (event: ProgressEvent) => {
    if (!batch || event.batch?.batchId !== batch.batchId) return;
    const item = batch.items[event.batch.index];
    const final = (FINAL_STAGES as readonly string[]).includes(event.stage);
    if (final) item.stage = event.stage;
    if (event.stage === 'failed' && !fatal) checks.push(checkFatal(event));
    // Cancelled items count as finished in the batch but were not reached: the progress line leaves them out.
    const counts = { done: event.batch.finished - countOf(batch.items, 'cancelled'), total: batch.total, skipped: countOf(batch.items, 'skipped'), failed: countOf(batch.items, 'failed') };
    options.onProgress?.(final ? counts : { ...counts, item: item.key, stage: event.stage, fraction: event.fraction, message: event.message });
  };
  // A failed item without a run row: remember its error and stop the batch.
  const checkFatal = async (event: ProgressEvent) => {
    if ((await service.getRun(event.runId)) !== null || fatal) return;
    fatal = runFailure(event);
    cancel();
  };
  const unsubscribe = service.onProgress((event) => (batch ? handle(event) : early.push(event)));
  try {
    batch = await start();
    for (const event of early.splice(0)) handle(event);
    if (options.signal?.aborted) cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    const ended = (await service.batchFinished(batch.batchId)) ?? batch;
    await Promise.all(checks);
    if (fatal) throw fatal;
    return queueResult(ended, options.signal?.aborted === true);
  } finally {
    options.signal?.removeEventListener('abort', cancel);
    unsubscribe();
  }
}

function countOf(items: readonly BatchItemInfo[], stage: BatchItemInfo['stage']): number {
  return items.filter((item) => item.stage === stage).length;
}

/** The batch as the CLI reports it; failures without a run (rerun sources not done) come first. */
function queueResult(batch: BatchInfo, stopped: boolean): QueueResult {
  const result: QueueResult = { experiment: batch.experiment, total: batch.total, completed: [], skipped: [], failed: [], cancelled: stopped, warnings: [...batch.warnings] };
  const failedRuns: QueueFailure[] = [];
  for (const item of batch.items) {
    if (item.stage === 'done') result.completed.push({ key: item.key, runId: item.runId! });
    else if (item.stage === 'skipped') result.skipped.push({ key: item.key, runId: item.runId! });
    else if (item.stage === 'cancelled') result.cancelled = true;
    else if (item.stage === 'failed' && item.runId === undefined) result.failed.push({ key: item.key, error: item.error ?? 'failed' });
    else if (item.stage === 'failed') {
      const failure: QueueFailure = { key: item.key, runId: item.runId, error: (item.error ?? 'failed').split('\n')[0] };
      if (item.line !== undefined) failure.line = item.line;
      failedRuns.push(failure);
    }
  }
  result.failed.push(...failedRuns);
  return result;
}
