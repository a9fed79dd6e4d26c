// The interface of a row method: a gradient method computed from the reverse passes of the answer rows.
// computeGradients runs one forward pass and the rows' reverse passes in chunks (memory decides the chunk
// size); every requested reducer sees each chunk's gradient [count, positions, hidden] once, as it arrives, and
// the sum of all rows' gradients (the sequence target, by linearity) at the end. A new row method is one module
// implementing this, listed in ./index ROW_METHODS.
import type { SaliencyNorm } from '../../../../shared/explain-options';
import type { GradientResult } from '../gradient-result';

export interface RowShape {
  /** Answer rows (1 for the sequence target). */
  rows: number;
  positions: number;
  hidden: number;
  /** Input embeddings [positions, hidden]. */
  input: Float32Array;
  saliencyNorm: SaliencyNorm;
}

export interface RowReduction {
  /** Rows start … start + count − 1 of the gradient, laid out [count, positions, hidden]. */
  consume(start: number, count: number, gradient: Float32Array): void;
  /** Writes the method's fields of the result; `summed` is Σ_rows gradient [positions, hidden]. */
  finish(summed: Float32Array, result: GradientResult): void;
}

export interface RowReducer {
  /** The catalog id (shared/method-catalog). */
  readonly id: string;
  start(shape: RowShape): RowReduction;
}
