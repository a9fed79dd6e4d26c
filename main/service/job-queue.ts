// Run jobs, one at a time: explanation runs are CPU- and memory-heavy (one model session, large graphs), so a
// second run waits in a queue instead of competing for the same cores. Each job has an AbortController for
// cancel; progress of every job is broadcast as ProgressEvents and kept so a reloaded page can catch up.
import type { ExplainRequest, JobInfo, ProgressEvent, ProgressStage } from '../../shared/api';
import { API_ERROR_CODES, ApiError, toErrorData } from '../../shared/api';

/** What a job runner reports while it works. */
export type JobProgress = (stage: ProgressStage, fraction?: number, message?: string) => void;

export interface JobContext {
  /** The id the run must get in the store (the pipeline creates the row with it). */
  runId: string;
  signal: AbortSignal;
  onProgress: JobProgress;
}

/**
 * Runs one explanation job to the end: creates the run row with `context.runId`, explains, stores, and
 * resolves; rejects on failure. When `context.signal` aborts it should stop soon and reject.
 * In-process this wraps the engine pipeline; in Electron it forwards to the inference child process.
 */
export type JobRunner = (request: ExplainRequest, context: JobContext) => Promise<void>;

/** How a job ended. */
export interface JobOutcome {
  runId: string;
  stage: 'done' | 'failed' | 'cancelled';
  error?: ApiError;
}

interface Job {
  runId: string;
  request: ExplainRequest;
  controller: AbortController;
  queuedAt: string;
  stage: ProgressStage;
  fraction?: number;
  message?: string;
}

export interface JobQueueOptions {
  run: JobRunner;
  /** Every progress event, including 'queued' and the final one. */
  onProgress(event: ProgressEvent): void;
  /** Called once per job after its final event (the service fixes up the stored row there). */
  onFinished?(outcome: JobOutcome): void | Promise<void>;
}

export class JobQueue {
  private readonly waiting: Job[] = [];
  private active: Job | undefined;
  private activeDone: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: JobQueueOptions) {}

  /** Queues a job; it starts when the jobs before it have finished. */
  add(runId: string, request: ExplainRequest): void {
    if (this.closed) throw new ApiError(API_ERROR_CODES.unsupported, 'The workbench is shutting down; no new runs');
    const job: Job = { runId, request, controller: new AbortController(), queuedAt: new Date().toISOString(), stage: 'queued' };
    this.waiting.push(job);
    this.report(job, 'queued', undefined, this.waiting.length > 1 || this.active ? `waiting for ${this.waiting.length - 1 + (this.active ? 1 : 0)} job(s)` : undefined);
    this.pump();
  }

  /** Cancels a queued or running job; false when there is none with this id. */
  cancel(runId: string): boolean {
    const index = this.waiting.findIndex((job) => job.runId === runId);
    if (index >= 0) {
      const [job] = this.waiting.splice(index, 1);
      job.controller.abort();
      void this.finish(job, { runId, stage: 'cancelled' });
      return true;
    }
    if (this.active?.runId === runId) {
      this.active.controller.abort();
      return true;
    }
    return false;
  }

  /** Queued and running jobs, running first. */
  list(): JobInfo[] {
    const jobs = this.active ? [this.active, ...this.waiting] : [...this.waiting];
    return jobs.map((job) => ({
      runId: job.runId,
      stage: job.stage,
      fraction: job.fraction,
      message: job.message,
      queuedAt: job.queuedAt,
    }));
  }

  has(runId: string): boolean {
    return this.active?.runId === runId || this.waiting.some((job) => job.runId === runId);
  }

  /** Cancels everything and waits for the running job to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) {
      job.controller.abort();
      await this.finish(job, { runId: job.runId, stage: 'cancelled' });
    }
    this.active?.controller.abort();
    await this.activeDone;
  }

  /** Resolves when no job is queued or running (tests, CLI). */
  async idle(): Promise<void> {
    while (this.activeDone) await this.activeDone;
  }

  private pump(): void {
    if (this.active || this.waiting.length === 0) return;
    const job = this.waiting.shift()!;
    this.active = job;
    this.activeDone = this.execute(job).finally(() => {
      this.active = undefined;
      this.activeDone = undefined;
      this.pump();
    });
  }

  private async execute(job: Job): Promise<void> {
    const signal = job.controller.signal;
    try {
      await this.options.run(job.request, {
        runId: job.runId,
        signal,
        onProgress: (stage, fraction, message) => {
          // Final stages are the queue's to announce, after the runner has really finished.
          if (stage === 'done' || stage === 'failed' || stage === 'cancelled' || stage === 'queued') return;
          this.report(job, stage, fraction, message);
        },
      });
      // Resolved even if a cancel came too late to stop it: the run is complete and stored.
      await this.finish(job, { runId: job.runId, stage: 'done' });
    } catch (error) {
      if (signal.aborted) {
        await this.finish(job, { runId: job.runId, stage: 'cancelled' });
      } else {
        const data = toErrorData(error);
        await this.finish(job, { runId: job.runId, stage: 'failed', error: ApiError.fromData(data) });
      }
    }
  }

  private async finish(job: Job, outcome: JobOutcome): Promise<void> {
    try {
      await this.options.onFinished?.(outcome);
    } catch {
      // Fixing up the stored row is best effort; the event below still tells the user what happened.
    }
    const message =
      outcome.stage === 'cancelled' ? 'Cancelled' : outcome.stage === 'failed' ? outcome.error?.message : undefined;
    job.stage = outcome.stage;
    this.options.onProgress({
      runId: job.runId,
      stage: outcome.stage,
      ...(outcome.stage === 'done' ? { fraction: 1 } : {}),
      ...(message ? { message } : {}),
      ...(outcome.error ? { error: outcome.error.toData() } : {}),
    });
  }

  private report(job: Job, stage: ProgressStage, fraction?: number, message?: string): void {
    job.stage = stage;
    job.fraction = fraction;
    job.message = message;
    const event: ProgressEvent = { runId: job.runId, stage };
    if (fraction !== undefined && Number.isFinite(fraction)) event.fraction = Math.min(1, Math.max(0, fraction));
    if (message !== undefined) event.message = message;
    this.options.onProgress(event);
  }
}
