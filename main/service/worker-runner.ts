// The service's job runner when inference runs in a child: a native crash or an out-of-memory in onnxruntime
// then ends only the child, never the window or the server. The child is started on the first job, kept for
// the next ones (model caches stay warm), and started afresh after it dies.
import { API_ERROR_CODES, ApiError, type ExplainRequest } from '../../shared/api';
import type { JobContext, JobRunner } from './job-queue';
import type { ChildHandle, ChildMessage, SpawnChild, WorkerSetup } from './worker-protocol';

export interface WorkerRunnerOptions {
  spawn: SpawnChild;
  setup: WorkerSetup;
  /** After a cancel, how long the child may take to stop before it is ended (default 10 s). */
  cancelGraceMs?: number;
  /** Told when the child died unexpectedly (logging). */
  onCrash?(reason: string): void;
}

export interface WorkerRunner {
  run: JobRunner;
  /** Asks the child to stop and ends it. */
  close(): Promise<void>;
}

interface Pending {
  runId: string;
  context: JobContext;
  resolve(): void;
  reject(error: unknown): void;
}

/** Creates the runner; no child starts until the first job. */
export function createWorkerRunner(options: WorkerRunnerOptions): WorkerRunner {
  let child: ChildHandle | undefined;
  let pending: Pending | undefined;
  let fatal: ApiError | undefined;

  function start(): ChildHandle {
    const handle = options.spawn();
    fatal = undefined;
    handle.onMessage((message: ChildMessage) => {
      if (message.type === 'fatal') {
        fatal = ApiError.fromData(message.error);
        pending?.reject(fatal);
        pending = undefined;
        return;
      }
      if (message.type === 'ready' || !pending || message.runId !== pending.runId) return;
      if (message.type === 'progress') {
        pending.context.onProgress(message.stage, message.fraction, message.message);
      } else if (message.type === 'done') {
        const finished = pending;
        pending = undefined;
        finished.resolve();
      } else if (message.type === 'failed') {
        const finished = pending;
        pending = undefined;
        finished.reject(ApiError.fromData(message.error));
      }
    });
    handle.onExit((reason) => {
      if (child === handle) child = undefined;
      if (pending) {
        const lost = pending;
        pending = undefined;
        if (lost.context.signal.aborted) {
          lost.reject(new ApiError(API_ERROR_CODES.cancelled, 'the run was cancelled'));
        } else {
          options.onCrash?.(reason);
          lost.reject(
            new ApiError(
              API_ERROR_CODES.workerCrashed,
              `The inference process stopped unexpectedly (${reason}); it will be restarted for the next run. ` +
                'A crash like this usually means the model needed more memory than was free — try a smaller model, dtype or input.',
            ),
          );
        }
      }
    });
    handle.send({ type: 'init', setup: options.setup });
    return handle;
  }

  const run: JobRunner = (request: ExplainRequest, context: JobContext) =>
    new Promise<void>((resolve, reject) => {
      if (pending) {
        reject(new ApiError(API_ERROR_CODES.internal, 'the inference process is already running a job'));
        return;
      }
      if (!child) child = start();
      const handle = child;
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        handle.send({ type: 'cancel', runId: context.runId });
        // A job stuck in synchronous work cannot see the cancel: end the child after a grace period.
        graceTimer = setTimeout(() => {
          if (pending?.runId === context.runId) handle.kill();
        }, options.cancelGraceMs ?? 10_000);
      };
      const cleanup = () => {
        context.signal.removeEventListener('abort', onAbort);
        if (graceTimer) clearTimeout(graceTimer);
      };
      pending = {
        runId: context.runId,
        context,
        resolve: () => {
          cleanup();
          resolve();
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      if (fatal) {
        pending.reject(fatal);
        pending = undefined;
        return;
      }
      context.signal.addEventListener('abort', onAbort, { once: true });
      if (context.signal.aborted) onAbort();
      handle.send({ type: 'run', runId: context.runId, request });
    });

  return {
    run,
    async close() {
      const handle = child;
      child = undefined;
      if (!handle) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          handle.kill();
          resolve();
        }, 2000);
        handle.onExit(() => {
          clearTimeout(timer);
          resolve();
        });
        try {
          handle.send({ type: 'shutdown' });
        } catch {
          handle.kill();
        }
      });
    },
  };
}
