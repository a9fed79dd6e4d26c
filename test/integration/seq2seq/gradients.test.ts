// Gradients through both graphs of the seq2seq fixtures (composed explain graph, float64): d log p(answer_t) with
// respect to the source embeddings and the decoder input embeddings equal central finite differences, and the
// target log-probabilities equal the float64 reference's.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { DataType, decodeModel } from '../../../main/engine/onnx/proto';
import { Tensor } from '../../../main/engine/runtime';
import { lookupEmbeddings, openSeq2SeqGradients, runSeq2SeqGradients, sourceIntegratedGradients } from '../../../main/engine/seq2seq/gradients';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';

const SOURCE: Record<string, number[]> = { t5: [17824, 4300, 298, 5567, 2], marian: [450, 4996, 17354, 1701, 2] };
const ANSWER = [250, 3000, 42, 2];

async function graphs(family: string) {
  const folder = await fixtureFolder(family as 't5');
  const read = async (file: string) => decodeModel(await readFile(join(folder, 'onnx', file)));
  return { encoder: await read('encoder_model.onnx'), decoder: await read('decoder_model_merged.onnx') };
}

describe('seq2seq gradients', () => {
  for (const family of ['t5', 'marian'] as const) {
    it(`${family}: source and decoder embedding gradients equal central finite differences (float64)`, async () => {
      const { encoder, decoder } = await graphs(family);
      const start = FIXTURE_SPECS[family].decoderStartTokenId;
      const decoderIds = [start, ...ANSWER.slice(0, -1)];
      const source = SOURCE[family];
      const program = await openSeq2SeqGradients(encoder, decoder, source, decoderIds, ANSWER, ANSWER.length, DataType.DOUBLE);
      try {
        const result = await runSeq2SeqGradients(program, source, decoderIds, ANSWER);
        const spec = FIXTURE_SPECS[family];
        const logits = seq2seqReference(spec, buildSeq2SeqModel(spec).weights, source, decoderIds).logits;
        ANSWER.forEach((token, row) => {
          const max = Math.max(...logits[row]);
          const lse = max + Math.log(logits[row].reduce((sum, v) => sum + Math.exp(v - max), 0));
          expect(Math.abs(result.logProbs[row] - (logits[row][token] - lse))).toBeLessThan(1e-4);
        });
        // Central differences of target r with respect to source coordinate (s, j).
        const base = lookupEmbeddings(program.composed.source, source, DataType.DOUBLE);
        const width = program.composed.source.width;
        const eps = 1e-5;
        let maxError = 0;
        let maxMagnitude = 0;
        for (const [s, j] of [[0, 3], [2, 17], [4, width - 1]]) {
          const shifted = (delta: number) => {
            const data = Float64Array.from(base.data as Float64Array);
            data[s * width + j] += delta;
            return new Tensor('float64', data, base.dims);
          };
          const plus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { sourceEmbeds: shifted(eps) });
          const minus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { sourceEmbeds: shifted(-eps) });
          for (let r = 0; r < ANSWER.length; r++) {
            const numeric = (plus.logProbs[r] - minus.logProbs[r]) / (2 * eps);
            const analytic = result.source[(r * source.length + s) * width + j];
            maxError = Math.max(maxError, Math.abs(numeric - analytic));
            maxMagnitude = Math.max(maxMagnitude, Math.abs(analytic));
          }
        }
        // The same with respect to the decoder input embeddings.
        const decoderBase = lookupEmbeddings(program.composed.decoder, decoderIds, DataType.DOUBLE);
        const dw0 = program.composed.decoder.width;
        for (const [p, j] of [[0, 5], [1, 11], [2, dw0 - 1]]) {
          const shifted = (delta: number) => {
            const data = Float64Array.from(decoderBase.data as Float64Array);
            data[p * dw0 + j] += delta;
            return new Tensor('float64', data, decoderBase.dims);
          };
          const plus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { decoderEmbeds: shifted(eps) });
          const minus = await runSeq2SeqGradients(program, source, decoderIds, ANSWER, { decoderEmbeds: shifted(-eps) });
          for (let r = 0; r < ANSWER.length; r++) {
            const numeric = (plus.logProbs[r] - minus.logProbs[r]) / (2 * eps);
            const analytic = result.decoder[(r * decoderIds.length + p) * dw0 + j];
            maxError = Math.max(maxError, Math.abs(numeric - analytic));
          }
        }
        expect(maxMagnitude).toBeGreaterThan(1e-3);
        expect(maxError).toBeLessThan(1e-7);
        // Causality on the decoder side: row r does not depend on decoder positions after r.
        const dw = program.composed.decoder.width;
        for (let r = 0; r < ANSWER.length; r++)
          for (let p = r + 1; p < decoderIds.length; p++)
            for (let j = 0; j < dw; j++) expect(result.decoder[(r * decoderIds.length + p) * dw + j]).toBe(0);
        // Integrated gradients over the source: completeness to the midpoint rule's accuracy.
        const single = await openSeq2SeqGradients(encoder, decoder, source, decoderIds, ANSWER, 1, DataType.DOUBLE);
        const ig = await sourceIntegratedGradients(single, source, decoderIds, ANSWER, ANSWER.length, { steps: 64, padTokenId: FIXTURE_SPECS[family].padTokenId });
        await single.release();
        expect(Math.abs(ig.delta)).toBeGreaterThan(0.1);
        expect(ig.completenessError).toBeLessThan(0.02 * Math.abs(ig.delta));
      } finally {
        await program.release();
      }
    }, 120_000);
  }
});
