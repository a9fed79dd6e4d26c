// Values over the source tokens of an encoder-decoder run, for the source row of chips and the answer × source
// heatmap: cross-attention for the attention views, the source-side gradients for saliency and gradient × input,
// and integrated gradients (which seq2seq runs compute over the source only).
import type { RunJson } from './run';
import { SIGNED_METHODS, type AnswerFocus, type ViewMethod } from './token-values';

/** Whether a run is an encoder-decoder run (it has a source). */
export function isSeq2SeqRun(run: RunJson): boolean {
  return run.source !== undefined;
}

/** The answer × source matrix of a method ([answer row][source token]); [] when the run has none. */
export function sourceMatrix(run: RunJson, method: ViewMethod): number[][] {
  if (method === 'attention.mean' || method === 'attention.rollout') return run.attention?.cross?.mean ?? [];
  if (method === 'saliency') return run.gradient?.source?.saliency ?? [];
  if (method === 'grad_x_input') return run.gradient?.source?.gradXInput ?? [];
  return [];
}

/**
 * Values per source token for a method and a focus: one answer token's row, or for the whole answer the mean over
 * rows (integrated gradients: their attributions, which explain the whole answer).
 * @example sourceValues(run, 'attention.mean', 0) // cross-attention of answer token 0 to each source token
 */
export function sourceValues(run: RunJson, method: ViewMethod, focus: AnswerFocus): { values: (number | null)[]; signed: boolean } {
  const length = run.source?.ids.length ?? 0;
  const signed = SIGNED_METHODS.has(method);
  if (method === 'integrated_gradients') {
    const attributions = run.integratedGradients?.input === 'source' ? run.integratedGradients.attributions : [];
    return { values: Array.from({ length }, (_, s) => attributions[s] ?? null), signed };
  }
  const matrix = sourceMatrix(run, method);
  if (focus !== 'sequence') return { values: Array.from({ length }, (_, s) => matrix[focus]?.[s] ?? null), signed };
  if (matrix.length === 0) return { values: new Array(length).fill(null), signed };
  return { values: Array.from({ length }, (_, s) => matrix.reduce((sum, row) => sum + (row[s] ?? 0), 0) / matrix.length), signed };
}
