// Values over the source tokens of an encoder-decoder run, for the source row of chips and the answer × source
// heatmap: cross-attention for the attention views, the source-side gradients for saliency and gradient × input,
// and integrated gradients (which seq2seq runs compute over the source only).
import type { RunJson } from './run';
import type { AttributionId } from './method-catalog';
import { attributionMass } from './experiment-math';
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

/**
 * The answer × source rows of an aggregate attribution of an encoder-decoder run (one whole-answer row for
 * attention.input and integrated gradients); undefined when the run lacks it. Attention means cross-attention:
 * the encoder's own rollout explains source tokens by source tokens, not the answer, and has no rows here.
 */
export function sourceAttribution(run: RunJson, method: AttributionId): number[][] | undefined {
  const rows = (() => {
    switch (method) {
      case 'attention.mean':
        return run.attention?.cross?.mean;
      case 'attention.input':
        return run.attention?.cross && run.attention.input?.length ? [run.attention.input] : undefined;
      case 'saliency':
        return run.gradient?.source?.saliency;
      case 'grad_x_input':
        return run.gradient?.source?.gradXInput;
      case 'integrated_gradients':
        return run.integratedGradients?.input === 'source' ? [run.integratedGradients.attributions] : undefined;
      default:
        return undefined;
    }
  })();
  return rows && rows.length > 0 ? rows : undefined;
}

/**
 * An encoder-decoder run's attribution mass per source token (|values| summed over the answer rows), the
 * counterpart of a decoder-only run's prompt mass; undefined when the run lacks the method.
 * @example sourceMass(run, 'saliency') // Float64Array(S): Σ_t |∂ log p(answer_t) / ∂ source_s|
 */
export function sourceMass(run: RunJson, method: AttributionId): Float64Array | undefined {
  const rows = sourceAttribution(run, method);
  const length = run.source?.ids.length ?? 0;
  if (!rows || length === 0) return undefined;
  const flat = rows.flatMap((row) => Array.from({ length }, (_, s) => row[s] ?? 0));
  return attributionMass(flat, [rows.length, length], length);
}

/**
 * The run as its prompt side reads: an encoder-decoder run's source tokens stand in for the prompt (the text
 * the model was given), so segments, compare columns and top tokens work on what the encoder read. A
 * decoder-only run is returned as it is.
 */
export function promptSide<T extends Pick<RunJson, 'tokens' | 'promptLength' | 'source'>>(run: T): T {
  if (!run.source) return run;
  const { ids, text, wordStarts } = run.source;
  return { ...run, tokens: { ids, text, role: ids.map(() => 'prompt' as const), ...(wordStarts ? { wordStarts } : {}) }, promptLength: ids.length };
}
