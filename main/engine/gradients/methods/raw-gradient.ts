// The raw gradient: ∂f_r/∂e_t,h for every answer row r, position t and hidden unit h, kept whole
// ([rows, positions, hidden]; 32 rows of a 512-wide model at T = 512 are 32 MB), so only when asked for.
import type { RowReducer } from './row-reducer';

export const rawGradientReducer: RowReducer = {
  id: 'gradient',
  start({ rows, positions, hidden }) {
    const size = positions * hidden;
    const raw = new Float32Array(rows * size);
    return {
      consume: (start, _count, gradient) => raw.set(gradient, start * size),
      finish: (_summed, result) => {
        result.raw = raw;
      },
    };
  },
};
