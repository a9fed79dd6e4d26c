// The in-process job runner: the engine pipeline in this very process (web mode without a worker, the CLI,
// tests, and inside the inference child itself).
import type { RunJson } from '../../shared/run';
import type { RunStore } from '../store/run-store';
import { runExplanation } from './pipeline';
import type { JobRunner } from './job-queue';

export interface PipelineRunnerOptions {
  store: RunStore;
  /** Folder for rewritten graphs, cached per model-file hash. */
  cacheDir: string;
  /** Where the built-in demo model lives. */
  demoModelDir: string;
  /** Told each finished run as the pipeline returned it, every value at full precision (`explain --json`). */
  onResult?: (run: RunJson) => void;
  /** The process ends after its run (CLI `explain`): PipelineContext.oneShot. */
  oneShot?: boolean;
}

/** A JobRunner that calls runExplanation with the service's run id, signal and progress callback. */
export function pipelineRunner(options: PipelineRunnerOptions): JobRunner {
  return async (request, context) => {
    const { run } = await runExplanation(request, {
      store: options.store,
      cacheDir: options.cacheDir,
      demoModelDir: options.demoModelDir,
      runId: context.runId,
      signal: context.signal,
      onProgress: context.onProgress,
      oneShot: options.oneShot,
    });
    options.onResult?.(run);
  };
}
