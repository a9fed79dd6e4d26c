// Gradient × input (Shrikumar et al. 2016, "Not Just a Black Box"; Denil et al. 2014 for word embeddings):
// the first-order Taylor term of each position, the dot product of the gradient with the input embedding.
//   gradXInput[r, t] = Σ_h ∂f_r/∂e_t,h · e_t,h
import type { RowReducer } from './row-reducer';

/**
 * Gradients [rows, positions, hidden] and embeddings [positions, hidden] → [rows, positions].
 * Example: `gradientTimesInput(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1, 0, 2), 1, 2, 2)` → `[3, 8]`.
 */
export function gradientTimesInput(gradient: Float32Array, embeddings: Float32Array, rows: number, positions: number, hidden: number): Float32Array {
  const out = new Float32Array(rows * positions);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < positions; t++) {
      const base = (r * positions + t) * hidden;
      let sum = 0;
      for (let h = 0; h < hidden; h++) sum += gradient[base + h] * embeddings[t * hidden + h];
      out[r * positions + t] = sum;
    }
  }
  return out;
}

/** Sum of the rows of [rows, size] gradients: the gradient of the summed targets (linearity). */
export function sumRows(gradient: Float32Array, rows: number, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let r = 0; r < rows; r++) for (let i = 0; i < size; i++) out[i] += gradient[r * size + i];
  return out;
}

/** Per-row gradient × input as chunks arrive; the sequence row comes from the summed gradient. */
export const gradXInputReducer: RowReducer = {
  id: 'grad_x_input',
  start({ rows, positions, hidden, input }) {
    const values = new Float32Array(rows * positions);
    return {
      consume: (start, count, gradient) => values.set(gradientTimesInput(gradient, input, count, positions, hidden), start * positions),
      finish: (summed, result) => {
        result.gradXInput = values;
        result.sequence.gradXInput = gradientTimesInput(summed, input, 1, positions, hidden);
      },
    };
  },
};
