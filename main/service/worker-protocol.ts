// Messages between the service and the inference child (a worker thread, or an Electron utilityProcess).
// Plain JSON-compatible objects: the child writes results into the run database itself, so no tensors cross.
import type { ApiErrorData, ExplainRequest, ProgressStage } from '../../shared/api';

/** What the child needs to open the same database and caches as the parent. */
export interface WorkerSetup {
  databasePath: string;
  cacheDir: string;
  demoModelDir: string;
}

export type ParentMessage =
  | { type: 'init'; setup: WorkerSetup }
  | { type: 'run'; runId: string; request: ExplainRequest }
  | { type: 'cancel'; runId: string }
  | { type: 'shutdown' };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'progress'; runId: string; stage: ProgressStage; fraction?: number; message?: string }
  | { type: 'done'; runId: string }
  | { type: 'failed'; runId: string; error: ApiErrorData; cancelled: boolean }
  /** Something went wrong outside any job (e.g. the database could not be opened). */
  | { type: 'fatal'; error: ApiErrorData };

/** The parent's handle on one child: send, receive, notice its end, end it. */
export interface ChildHandle {
  send(message: ParentMessage): void;
  onMessage(listener: (message: ChildMessage) => void): void;
  /** Called once when the child ends, for whatever reason; `reason` is a human-readable description. */
  onExit(listener: (reason: string) => void): void;
  /** Ends the child at once. */
  kill(): void;
}

/** Starts a fresh child. */
export type SpawnChild = () => ChildHandle;

/** The child's side of the channel (worker_threads parentPort or Electron's process.parentPort). */
export interface ParentPortLike {
  postMessage(message: ChildMessage): void;
  onMessage(listener: (message: ParentMessage) => void): void;
}

/**
 * Exit bookkeeping shared by the child kinds: a child may report its end twice (an error, then an exit), and
 * listeners must hear it once. `end(reason)` notifies; `onExit` registers; `ended()` tells whether it happened.
 */
export function exitNotifier(): { end(reason: string): void; onExit(listener: (reason: string) => void): void; ended(): boolean } {
  const listeners: ((reason: string) => void)[] = [];
  let done = false;
  return {
    end(reason) {
      if (done) return;
      done = true;
      for (const listener of listeners) listener(reason);
    },
    onExit: (listener) => void listeners.push(listener),
    ended: () => done,
  };
}
