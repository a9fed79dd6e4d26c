// Independent reference values: the unmodified model's full logits, log-softmaxed here in JavaScript, and central
// finite differences of a program's own target values.
import type { GradientProgram, ProgramResult, ProgramRun } from '../../../main/engine/gradients/program';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { createSession, emptyTensor, int64Tensor } from '../../../main/engine/runtime';

/**
 * Largest gap between `analytic` (a [rows, positions, hidden] gradient of `run`) and central differences of the
 * program's target values at the given (position, coordinate) pairs, and the largest analytic value there.
 */
export async function finiteDifferenceGap(
  program: GradientProgram,
  run: ProgramRun,
  analytic: ProgramResult,
  coordinates: [number, number][],
  step = 1e-5,
): Promise<{ maxError: number; maxMagnitude: number }> {
  const hidden = program.hiddenSize;
  const positions = run.ids.length;
  let maxError = 0;
  let maxMagnitude = 0;
  for (const [position, coordinate] of coordinates) {
    const at = (delta: number) => {
      const moved = Float64Array.from(run.embeddings);
      moved[position * hidden + coordinate] += delta;
      return program.run({ ...run, embeddings: moved });
    };
    const [plus, minus] = [await at(step), await at(-step)];
    for (let r = 0; r < run.rows; r++) {
      const exact = analytic.gradient[(r * positions + position) * hidden + coordinate];
      maxError = Math.max(maxError, Math.abs((plus.logProbs[r] - minus.logProbs[r]) / (2 * step) - exact));
      maxMagnitude = Math.max(maxMagnitude, Math.abs(exact));
    }
  }
  return { maxError, maxMagnitude };
}

/** Log-softmax rows of the original model's full logits, computed here from the unmodified graph. */
export async function referenceLogProbs(path: string, ids: number[]): Promise<number[][]> {
  const session = await createSession(path, 'cpu');
  try {
    const feeds: Record<string, ReturnType<typeof int64Tensor>> = {};
    for (const input of session.inputs) {
      if (input.name === 'input_ids') feeds[input.name] = int64Tensor(ids, [1, ids.length]);
      else if (input.name === 'attention_mask') feeds[input.name] = int64Tensor(ids.map(() => 1), [1, ids.length]);
      else if (input.name === 'position_ids') feeds[input.name] = int64Tensor(ids.map((_, i) => i), [1, ids.length]);
      else {
        const dims = input.shape!.map((d, axis) => (axis === 0 ? 1 : axis === 2 ? 0 : Number(d)));
        feeds[input.name] = emptyTensor(input.type === 'float16' ? 'float16' : 'float32', dims);
      }
    }
    const logits = (await session.run(feeds, ['logits'])).logits;
    const vocab = logits.dims[2];
    const data = logits.data as Float32Array;
    return ids.map((_, t) => {
      const row = data.subarray(t * vocab, (t + 1) * vocab);
      const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
      const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
      return Array.from(row, (v) => v - logSum);
    });
  } finally {
    await session.release();
  }
}

/** A float64 run whose rows are the answer tokens ids[prompt …], one identity seed row each. */
export function answerRowsRun(program: GradientProgram, ids: number[], prompt: number): ProgramRun {
  const rows = ids.length - prompt;
  const identity = new Float64Array(rows * rows);
  for (let r = 0; r < rows; r++) identity[r * rows + r] = 1;
  return {
    embeddings: Float64Array.from(embed(program.split.table, program.hiddenSize, ids)),
    batch: 1,
    ids,
    positions: ids.slice(prompt).map((_, t) => prompt + t - 1),
    targetIds: ids.slice(prompt),
    cotangent: identity,
    rows,
  };
}

/** Largest absolute difference over the largest reference magnitude. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length mismatch ${got.length} vs ${want.length}`);
  let scale = 0;
  let error = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    error = Math.max(error, Math.abs(got[i] - want[i]));
  }
  return error / scale;
}
