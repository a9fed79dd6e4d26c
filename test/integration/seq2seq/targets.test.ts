// Sequence and contrastive targets through both graphs of the seq2seq fixtures (composed explain graph, float64):
// the gradient of F = Σ_t log p(answer_t | source, answer_<t) and of log p(answer_t) − log p(foil_t) with respect to
// the source and decoder embeddings equal central finite differences of those functions, and the contrastive values
// equal the float64 reference's log-probability differences.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { DataType, decodeModel } from '../../../main/engine/onnx/proto';
import { openSeq2SeqGradients, runSeq2SeqGradients, targetSeed } from '../../../main/engine/seq2seq/gradients';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';
import { finiteDifferenceError, logProb } from './finite-differences';

const SOURCE: Record<string, number[]> = { t5: [17824, 4300, 298, 5567, 2], marian: [450, 4996, 17354, 1701, 2] };
const ANSWER = [250, 3000, 42, 2];
const FOILS = [7, 99, 1234, 5];

async function graphs(family: 't5' | 'marian') {
  const folder = await fixtureFolder(family);
  const read = async (file: string) => decodeModel(await readFile(join(folder, 'onnx', file)));
  return { encoder: await read('encoder_model.onnx'), decoder: await read('decoder_model_merged.onnx') };
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
        const { error, magnitude } = await finiteDifferenceError(program, source, decoderIds, ANSWER, seed, {});
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
        const { error, magnitude } = await finiteDifferenceError(program, source, decoderIds, ANSWER, targetSeed('contrastive', ANSWER.length, decoderIds.length), { foilIds: FOILS });
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
