// The explainer plug-in interface: every explanation method is one object with a stable id, registered by
// name in ./registry, so new methods (occlusion, SmoothGrad, logit lens, …) plug in without touching others.
import type { DeviceChoice, RunJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import type { ExplainOptions } from '../../../shared/explain-options';
import type { LoadedModel } from '../model-folder';

/** Families in the order they run: attention first (the cheaper pass), value zeroing last (the most forwards). */
export type FamilyId = 'attention' | 'gradient' | 'value_zeroing';

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
}

/** What an explainer returns: fields for the run JSON (full precision) and tensors for the store. */
export interface ExplainResult {
  json: Partial<RunJson>;
  tensors: NamedTensor[];
}

export interface Explainer {
  /** Stable id used on the CLI (`--methods`) and in stored runs. */
  readonly id: string;
  /** Family shares one computation: all gradient methods of a run come from one derivative-graph run. */
  readonly family: FamilyId;
  readonly description: string;
  /** Needs an answer of at least one token (gradient targets are answer tokens). */
  readonly needsAnswer: boolean;
}

/**
 * A family computes all of its requested methods at once (one instrumented forward, or one
 * forward+backward run), then each method picks its part of the result.
 */
export interface ExplainerFamily {
  readonly id: FamilyId;
  compute(context: ExplainContext, methods: readonly string[]): Promise<ExplainResult>;
  /** One line saying what the family will cost, shown with its stage before it starts (expensive families). */
  costLine?(context: ExplainContext): string;
}
