// The inference child's side: receives jobs from the service, runs them with the in-process pipeline runner
// against its own connection to the same database (SQLite WAL allows one writer beside readers), and reports
// progress and outcomes back. Plain Node: used from a worker thread and from an Electron utilityProcess.
import { toErrorData } from '../../shared/api';
import type { RunStore } from '../store/run-store';
import type { JobRunner } from './job-queue';
import type { ParentMessage, ParentPortLike, WorkerSetup } from './worker-protocol';

export interface ChildDependencies {
  /** Opens the run store at `path`; `close` releases the database handle. */
  openStore(path: string): { store: RunStore; close(): void };
  /** Makes the job runner (the engine pipeline). */
  makeRunner(store: RunStore, setup: WorkerSetup): JobRunner;
  /** Ends the child (process.exit in both kinds of child). */
  exit(code: number): void;
  /** Frees what the runner keeps between jobs (warm sessions) before the child exits. */
  release?(): Promise<void>;
}

/** Serves jobs on `port` until a shutdown message arrives. */
export function serveInferenceChild(port: ParentPortLike, dependencies: ChildDependencies): void {
  let opened: { store: RunStore; close(): void } | undefined;
  let runner: JobRunner | undefined;
  const running = new Map<string, AbortController>();

  port.onMessage((message: ParentMessage) => {
    switch (message.type) {
      case 'init':
        try {
          opened = dependencies.openStore(message.setup.databasePath);
          runner = dependencies.makeRunner(opened.store, message.setup);
          port.postMessage({ type: 'ready' });
        } catch (error) {
          port.postMessage({ type: 'fatal', error: toErrorData(error) });
        }
        return;
      case 'run':
        void runJob(message.runId, message.request);
        return;
      case 'cancel':
        running.get(message.runId)?.abort();
        return;
      case 'shutdown':
        for (const controller of running.values()) controller.abort();
        void (dependencies.release?.() ?? Promise.resolve())
          .catch(() => undefined)
          .finally(() => {
            try {
              opened?.close();
            } finally {
              dependencies.exit(0);
            }
          });
        return;
    }
  });

  async function runJob(runId: string, request: Extract<ParentMessage, { type: 'run' }>['request']): Promise<void> {
    if (!runner) {
      port.postMessage({
        type: 'failed',
        runId,
        cancelled: false,
        error: { name: 'ApiError', code: 'internal', message: 'the inference process was not initialised' },
      });
      return;
    }
    const controller = new AbortController();
    running.set(runId, controller);
    try {
      await runner(request, {
        runId,
        signal: controller.signal,
        onProgress: (stage, fraction, text) => port.postMessage({ type: 'progress', runId, stage, fraction, message: text }),
      });
      port.postMessage({ type: 'done', runId });
    } catch (error) {
      port.postMessage({ type: 'failed', runId, cancelled: controller.signal.aborted, error: toErrorData(error) });
    } finally {
      running.delete(runId);
    }
  }
}
