// Central finite differences of the seq2seq explain programs' targets (float64 programs), shared by the target and
// quantized-variant tests.
import { DataType } from '../../../main/engine/onnx/proto';
import { Tensor } from '../../../main/engine/runtime';
import { lookupEmbeddings, runSeq2SeqGradients, type GradientRunOptions, type Seq2SeqGradientProgram } from '../../../main/engine/seq2seq/gradients';

const EPS = 1e-5;

/** log softmax(logits)[token] of the float64 reference. */
export function logProb(row: number[], token: number): number {
  const max = Math.max(...row);
  return row[token] - (max + Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0)));
}

/**
 * Largest |analytic − central difference| over a few source and decoder coordinates, for every seeded row: row r's
 * function is Σ_t seed[r, t] · target_t. Returns the error and the largest analytic magnitude seen.
 */
export async function finiteDifferenceError(program: Seq2SeqGradientProgram, source: number[], decoderIds: number[], targetIds: number[], seed: Float64Array, extra: GradientRunOptions): Promise<{ error: number; magnitude: number }> {
  const T = decoderIds.length;
  const analytic = await runSeq2SeqGradients(program, source, decoderIds, targetIds, { ...extra, seed });
  const value = (logProbs: number[], r: number) => logProbs.reduce((sum, v, t) => sum + seed[r * T + t] * v, 0);
  let error = 0;
  let magnitude = 0;
  const sides = [
    { key: 'sourceEmbeds' as const, lookup: program.composed.source, ids: source, gradient: analytic.source, coordinates: [[0, 3], [2, 17], [4, -1]] },
    { key: 'decoderEmbeds' as const, lookup: program.composed.decoder, ids: decoderIds, gradient: analytic.decoder, coordinates: [[0, 5], [1, 11], [2, -1]] },
  ];
  for (const side of sides) {
    const base = lookupEmbeddings(side.lookup, side.ids, DataType.DOUBLE);
    const width = side.lookup.width;
    for (const [p, column] of side.coordinates) {
      const j = column < 0 ? width + column : column;
      const shifted = (delta: number) => {
        const data = Float64Array.from(base.data as Float64Array);
        data[p * width + j] += delta;
        return new Tensor('float64', data, base.dims);
      };
      const plus = await runSeq2SeqGradients(program, source, decoderIds, targetIds, { ...extra, seed, [side.key]: shifted(EPS) });
      const minus = await runSeq2SeqGradients(program, source, decoderIds, targetIds, { ...extra, seed, [side.key]: shifted(-EPS) });
      for (let r = 0; r < program.rows; r++) {
        const numeric = (value(plus.logProbs, r) - value(minus.logProbs, r)) / (2 * EPS);
        const exact = side.gradient[(r * side.ids.length + p) * width + j];
        error = Math.max(error, Math.abs(numeric - exact));
        magnitude = Math.max(magnitude, Math.abs(exact));
      }
    }
  }
  return { error, magnitude };
}

