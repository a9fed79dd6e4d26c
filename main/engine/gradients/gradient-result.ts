// What computeGradients returns, in its own module: the row reducers (methods/row-reducer.ts) fill it and
// compute.ts runs them, so neither has to import the other for the type.
import type { IntegratedGradientsResult } from './methods/integrated-gradients';
import type { GradientChunkingJson } from '../../../shared/run';

export type GradientTarget = 'token' | 'sequence' | 'contrastive';

export interface GradientResult {
  target: GradientTarget;
  rows: number;
  positions: number;
  hidden: number;
  /** [rows, positions]; zero from each row's target position on. */
  saliency?: Float32Array;
  gradXInput?: Float32Array;
  /** Of the summed target: [positions]. */
  sequence: { saliency?: Float32Array; gradXInput?: Float32Array };
  /** [rows, positions, hidden], on request. */
  raw?: Float32Array;
  integratedGradients?: IntegratedGradientsResult;
  /** The target value per row (log-probabilities, or differences for contrastive). */
  targetLogProbs: number[];
  /** How the answer rows were split into reverse passes (absent when no row method ran). */
  chunking?: GradientChunkingJson;
}
