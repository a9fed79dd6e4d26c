// What a run job gets and gives back, apart from pipeline.ts so the seq2seq run (seq2seq-run.ts), which the
// pipeline hands encoder-decoder folders to, can use them without an import cycle.
import type { ProgressStage } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import type { RunStore } from '../store/run-store';
import type { SessionPool } from '../engine/session-pool';

export interface PipelineContext {
  store: RunStore;
  /** Folder for rewritten graphs (instrumented / derivative), cached per model-file hash. */
  cacheDir: string;
  /** Where the built-in demo model lives (built on first use). */
  demoModelDir: string;
  /** Id to give the run (the service hands it out before the job starts); a new one otherwise. */
  runId?: string;
  signal?: AbortSignal;
  onProgress?: (stage: ProgressStage, fraction?: number, message?: string) => void;
  /** Sessions kept between runs (default: this process's pool, main/engine/warm-sessions.ts). */
  sessions?: SessionPool;
  /**
   * The process ends after this run (CLI `explain`): each session is closed after the last stage that uses it instead
   * of kept warm (warm-sessions.ts WarmOptions.oneShot). Long-lived processes (the app's inference child, `batch`,
   * `rerun`, `serve`) leave it unset.
   */
  oneShot?: boolean;
}

export interface PipelineResult {
  runId: string;
  /** The run with every computed value at full precision (what `explain --json` writes). */
  run: RunJson;
}
