// Sequence and contrastive targets through both graphs of the seq2seq fixtures (composed explain graph, float64):
// the gradient of F = Σ_t log p(answer_t | source, answer_<t) and of log p(answer_t) − log p(foil_t) with respect to
// the source and decoder embeddings equal central finite differences of those functions, and the contrastive values
// equal the float64 reference's log-probability differences.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { DataType, decodeModel } from '../../../main/engine/onnx/proto';
import { Tensor } from '../../../main/engine/runtime';
import { lookupEmbeddings, openSeq2SeqGradients, runSeq2SeqGradients, targetSeed, type GradientRunOptions, type Seq2SeqGradientProgram } from '../../../main/engine/seq2seq/gradients';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';

const SOURCE: Record<string, number[]> = { t5: [17824, 4300, 298, 5567, 2], marian: [450, 4996, 17354, 1701, 2] };
const ANSWER = [250, 3000, 42, 2];
const FOILS = [7, 99, 1234, 5];
const EPS = 1e-5;

async function graphs(family: 't5' | 'marian') {
  const folder = await fixtureFolder(family);
  const read = async (file: string) => decodeModel(await readFile(join(folder, 'onnx', file)));
  return { encoder: await read('encoder_model.onnx'), decoder: await read('decoder_model_merged.onnx') };
}

/** log softmax(logits)[token] of the float64 reference. */
function logProb(row: number[], token: number): number {
  const max = Math.max(...row);
  return row[token] - (max + Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0)));
}

/**
 * Largest |analytic − central difference| over a few source and decoder coordinates, for every seeded row: row r's
 * function is Σ_t seed[r, t] · target_t. Returns the error and the largest analytic magnitude seen.
 */
async function finiteDifferenceError(program: Seq2SeqGradientProgram, source: number[], decoderIds: number[], seed: Float64Array, extra: GradientRunOptions): Promise<{ error: number; magnitude: number }> {
  const T = decoderIds.length;
  const analytic = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { ...extra, seed });
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
      const plus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { ...extra, seed, [side.key]: shifted(EPS) });
      const minus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { ...extra, seed, [side.key]: shifted(-EPS) });
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

describe('seq2seq targets', () => {
  for (const family of ['t5', 'marian'] as const) {
    it(`${family}: the sequence target's gradient equals central finite differences of Σ_t log p(answer_t) (float64)`, async () => {
      const { encoder, decoder } = await graphs(family);
      const decoderIds = [FIXTURE_SPECS[family].decoderStartTokenId, ...ANSWER.slice(0, -1)];
      const source = SOURCE[family];
      const program = await openSeq2SeqGradients(encoder, decoder, source, decoderIds, ANSWER, 1, DataType.DOUBLE);
      try {
        const seed = targetSeed('sequence', ANSWER.length, decoderIds.length);
        expect(Array.from(seed)).toEqual([1, 1, 1, 1]);
        const { error, magnitude } = await finiteDifferenceError(program, source, decoderIds, seed, {});
        expect(magnitude).toBeGreaterThan(1e-3);
        expect(error).toBeLessThan(1e-7);
        // The sequence gradient is the sum of the token rows' gradients (linearity), checked against a token program.
        const rows = await openSeq2SeqGradients(encoder, decoder, source, decoderIds, ANSWER, ANSWER.length, DataType.DOUBLE);
        const perRow = await runSeq2SeqGradients(rows, source, decoderIds, ANSWER);
        await rows.release();
        const summed = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { seed });
        const size = summed.source.length;
        for (let i = 0; i < size; i += 7) {
          const total = Array.from({ length: ANSWER.length }, (_, r) => perRow.source[r * size + i]).reduce((a, b) => a + b, 0);
          expect(Math.abs(summed.source[i] - total)).toBeLessThan(1e-12 + 1e-9 * Math.abs(total));
        }
      } finally {
        await program.release();
      }
    }, 120_000);

    it(`${family}: contrastive targets log p(answer_t) − log p(foil_t) match the reference and central finite differences (float64)`, async () => {
      const { encoder, decoder } = await graphs(family);
      const spec = FIXTURE_SPECS[family];
      const decoderIds = [spec.decoderStartTokenId, ...ANSWER.slice(0, -1)];
      const source = SOURCE[family];
      const program = await openSeq2SeqGradients(encoder, decoder, source, decoderIds, ANSWER, ANSWER.length, DataType.DOUBLE, FOILS);
      try {
        expect(program.contrastive).toBe(true);
        const logits = seq2seqReference(spec, buildSeq2SeqModel(spec).weights, source, decoderIds).logits;
        const values = (await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { foilIds: FOILS })).logProbs;
        ANSWER.forEach((token, t) => expect(Math.abs(values[t] - (logProb(logits[t], token) - logProb(logits[t], FOILS[t])))).toBeLessThan(1e-4));
        const { error, magnitude } = await finiteDifferenceError(program, source, decoderIds, targetSeed('contrastive', ANSWER.length, decoderIds.length), { foilIds: FOILS });
        expect(magnitude).toBeGreaterThan(1e-3);
        expect(error).toBeLessThan(1e-7);
        // A contrastive program cannot run without its foils.
        await expect(runSeq2SeqGradients(program, source, decoderIds, ANSWER)).rejects.toThrow('one foil id per decoder position');
      } finally {
        await program.release();
      }
    }, 120_000);
  }
});
