// The CLI's batch and rerun runner: a list of explain requests run one after another in this process, with
// progress across items, failures recorded and collected (the run row keeps its error), a clean stop on abort,
// and marked segments stored with each finished run (experiments/segments storeMarkedSegments, as the
// service's BatchTracker stores them).
import type { ExplainRequest, ProgressStage } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import { CancelledError, runExplanation } from './pipeline';
import { newRunId } from '../store/run-rows';
import type { RunStore } from '../store/run-store';
import type { ItemClaim } from '../store/run-lifecycle';
import { storeMarkedSegments, type MarkedSpan } from '../experiments/segments';

/** Where runs are stored and models and graphs are found (the pipeline's context without per-run fields). */
export interface WorkbenchContext {
  store: RunStore;
  cacheDir: string;
  demoModelDir: string;
  signal?: AbortSignal;
}

/** Progress of a batch or rerun: items so far and the current item's stage. */
export interface QueueProgress {
  /** Items finished in this call (done or failed), skipped ones included. */
  done: number;
  total: number;
  skipped: number;
  failed: number;
  /** The item being run (absent at the end). */
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

export interface QueueJob {
  key: string;
  line?: number;
  request: ExplainRequest;
  /** Marked spans to store with the finished run. */
  spans: (run: RunJson) => MarkedSpan[];
  /** Claim the item in the store before running it (batch items; see runQueue). */
  claim?: Omit<ItemClaim, 'runId'>;
}

/** How often a batch looks again at items another live process is running (see runQueue). */
const CLAIM_POLL_MS = 500;

/**
 * Runs the jobs in order; `skipped` are reported as finished without running. A job with `claim` is first
 * claimed in the store (run-lifecycle.ts claimItem): an item another batch finished meanwhile is skipped, one
 * another live process is running is put aside and waited for after the other jobs — taken over if that
 * process ends without finishing it — so two batches on one dataset run each item once and both end with
 * every item accounted for.
 */
export async function runQueue(
  jobs: readonly QueueJob[],
  skipped: readonly QueueItemResult[],
  experiment: string,
  context: WorkbenchContext,
  onProgress: (progress: QueueProgress) => void = () => {},
): Promise<QueueResult> {
  const result: QueueResult = { experiment, total: jobs.length + skipped.length, completed: [], skipped: [...skipped], failed: [], cancelled: false, warnings: [] };
  const counts = () => ({
    done: result.completed.length + result.failed.length + result.skipped.length,
    total: result.total,
    skipped: result.skipped.length,
    failed: result.failed.length,
  });
  let waiting: QueueJob[] = [];
  for (const job of jobs) {
    const outcome = await runJob(job, context, result, (update) => onProgress({ ...counts(), ...update }));
    if (outcome === 'stop') break;
    if (outcome === 'busy') waiting.push(job);
  }
  while (waiting.length > 0 && !result.cancelled) {
    onProgress({ ...counts(), item: waiting[0].key, stage: 'queued', message: `waiting for ${waiting.length} item(s) another process is running` });
    await pause(CLAIM_POLL_MS, context.signal);
    const still: QueueJob[] = [];
    for (const job of waiting) {
      const outcome = await runJob(job, context, result, (update) => onProgress({ ...counts(), ...update }));
      if (outcome === 'stop') break;
      if (outcome === 'busy') still.push(job);
    }
    waiting = still;
  }
  onProgress(counts());
  return result;
}

type JobOutcome = 'finished' | 'busy' | 'stop';

/** Claims (when asked) and runs one job, recording its outcome in `result`. */
async function runJob(
  job: QueueJob,
  context: WorkbenchContext,
  result: QueueResult,
  onProgress: (update: Pick<QueueProgress, 'item' | 'stage' | 'fraction' | 'message'>) => void,
): Promise<JobOutcome> {
  if (context.signal?.aborted) {
    result.cancelled = true;
    return 'stop';
  }
  const runId = newRunId();
  if (job.claim) {
    const claim = context.store.claimItem({ ...job.claim, runId });
    if (claim.kind === 'done') {
      result.skipped.push({ key: job.key, runId: claim.runId });
      return 'finished';
    }
    if (claim.kind === 'busy') return 'busy';
  }
  onProgress({ item: job.key, stage: 'queued' });
  try {
    const { run } = await runExplanation(job.request, {
      store: context.store,
      cacheDir: context.cacheDir,
      demoModelDir: context.demoModelDir,
      runId,
      signal: context.signal,
      onProgress: (stage, fraction, message) => onProgress({ item: job.key, stage, fraction, message }),
    });
    result.warnings.push(...storeMarkedSegments(context.store, run, job.spans(run), job.key));
    result.completed.push({ key: job.key, runId });
    return 'finished';
  } catch (error) {
    if (error instanceof CancelledError || context.signal?.aborted) {
      result.cancelled = true;
      return 'stop';
    }
    // A failure before the run row exists (unreadable model folder, unknown method) would fail every
    // item the same way: stop and let the caller report it.
    if (!context.store.getRunSummary(runId)) throw error;
    const failure: QueueFailure = { key: job.key, runId, error: (error instanceof Error ? error.message : String(error)).split('\n')[0] };
    if (job.line !== undefined) failure.line = job.line;
    result.failed.push(failure);
    return 'finished';
  } finally {
    if (job.claim) context.store.releaseClaim(runId);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
