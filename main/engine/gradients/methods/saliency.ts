// Saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks"), for token inputs as in
// inseq and captum's `Saliency`: the size of the gradient of the target with respect to each position's input
// embedding, reduced over the hidden dimension.
//   l2 (default): ‖∂f/∂e_t‖₂     l1: Σ_h |∂f/∂e_t,h|     max: max_h |∂f/∂e_t,h|
import type { RowReducer } from './row-reducer';

export type SaliencyNorm = 'l2' | 'l1' | 'max';
export const SALIENCY_NORMS: readonly SaliencyNorm[] = ['l2', 'l1', 'max'];

/**
 * Per-position saliency of gradients laid out [rows, positions, hidden] → [rows, positions].
 * Example: `saliency(Float32Array.of(3, 4, 0, 1), 1, 2, 2)` → `[5, 1]`.
 */
export function saliency(gradient: Float32Array, rows: number, positions: number, hidden: number, norm: SaliencyNorm = 'l2'): Float32Array {
  const out = new Float32Array(rows * positions);
  for (let cell = 0; cell < rows * positions; cell++) {
    const base = cell * hidden;
    let value = 0;
    for (let h = 0; h < hidden; h++) {
      const g = gradient[base + h];
      if (norm === 'l2') value += g * g;
      else if (norm === 'l1') value += Math.abs(g);
      else value = Math.max(value, Math.abs(g));
    }
    out[cell] = norm === 'l2' ? Math.sqrt(value) : value;
  }
  return out;
}

/** Per-row saliency as chunks arrive; the sequence row is the saliency of the summed gradient. */
export const saliencyReducer: RowReducer = {
  id: 'saliency',
  start({ rows, positions, hidden, saliencyNorm }) {
    const values = new Float32Array(rows * positions);
    return {
      consume: (start, count, gradient) => values.set(saliency(gradient, count, positions, hidden, saliencyNorm), start * positions),
      finish: (summed, result) => {
        result.saliency = values;
        result.sequence.saliency = saliency(summed, 1, positions, hidden, saliencyNorm);
      },
    };
  },
};
