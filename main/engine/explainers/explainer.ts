// The explainer plug-in interface: every explanation method is an entry of shared/method-catalog computed by
// one engine module of its family; ./registry maps each catalog family to its driver, so new methods
// (occlusion, SmoothGrad, logit lens, …) plug in without touching others.
import type { MethodFamily } from '../../../shared/method-catalog';
import type { DeviceChoice, RunJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import type { ForwardBatches } from '../../../shared/memory-estimate-forward';
import type { ExplainOptions } from '../../../shared/explain-options';
import type { LoadedModel } from '../model-folder';
import type { RunSessions } from '../warm-sessions';

/** What the driver hands every explainer: one teacher-forced token sequence split into prompt and answer. */
export interface ExplainContext {
  model: LoadedModel;
  ids: number[];
  promptLength: number;
  options: ExplainOptions;
  device: DeviceChoice;
  /** Folder for cached rewritten graphs (keyed by model-file hash inside). */
  cacheDir: string;
  signal?: AbortSignal;
  onProgress?: (fraction: number, message?: string) => void;
  /** Sessions kept warm between runs (main/engine/warm-sessions.ts); absent: opened and released per run. */
  sessions?: Pick<RunSessions, 'session' | 'gradientProgram' | 'methodSession'>;
  /** Batch sizes of the forward-only stages chosen within the memory budget (shared/memory-estimate-forward.ts). */
  batches?: ForwardBatches;
  /** What the run's memory budget leaves above its estimated peak (gradient row chunks and IG batches use half). */
  memoryHeadroomBytes?: number;
  /** What earlier families of this run produced (faithfulness reads the attributions). */
  earlier?: Partial<RunJson>;
  /** The process ends after this run (PipelineContext.oneShot): sessions used for the last time may be closed at once. */
  oneShot?: boolean;
}

/** What an explainer returns: fields for the run JSON (full precision) and tensors for the store. */
export interface ExplainResult {
  json: Partial<RunJson>;
  tensors: NamedTensor[];
}

/**
 * A family computes all of its requested methods at once (one instrumented forward, or one
 * forward+backward run), then each method picks its part of the result. What a method is (id, label, options,
 * outputs) lives in shared/method-catalog; the family only computes.
 */
export interface ExplainerFamily {
  readonly id: MethodFamily;
  /** The method ids this family's engine modules compute (checked against the catalog in ./registry). */
  readonly methods: readonly string[];
  compute(context: ExplainContext, methods: readonly string[]): Promise<ExplainResult>;
  /** Runs the model folder's plain session (LoadedModel.session): a one-shot run keeps it open until such a family has run. */
  readonly runsModelSession?: boolean;
  /** One line saying what the family will cost, shown with its stage before it starts (expensive families). */
  costLine?(context: ExplainContext): string;
}
