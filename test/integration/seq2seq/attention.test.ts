// Encoder self-, decoder self- and cross-attention of the seq2seq fixtures, every layer and head: rows sum to 1,
// decoder self-attention is causal, every probability equals the float64 reference's, the cross-attention equals
// softmax(Q·Kᵀ) of the Q and K captured inside the graph, and rows sliced in the graph equal the full rows.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { FAMILY_TRAITS } from '../../../main/engine/model-builder/seq2seq-spec';
import { EXPLAIN_NAMES } from '../../../main/engine/attention/instrument';
import { decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { CROSS_ATTENTION_OUTPUT, instrumentSeq2SeqDecoder, openAttentionSessions, seq2seqAttention, type Seq2SeqAttention } from '../../../main/engine/seq2seq/attention';
import { loadSeq2SeqFolder, type LoadedSeq2Seq } from '../../../main/engine/seq2seq/folder';
import { decoderFeeds, encodeSource } from '../../../main/engine/seq2seq/generate';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';

const FAMILIES = ['bart', 't5', 'marian'] as const;
const TEXT = 'translate English to German: The house is wonderful and the garden is green.';
const ANSWER = [17, 250, 3000, 42, 9];

const models: Partial<Record<(typeof FAMILIES)[number], LoadedSeq2Seq>> = {};
const results: Partial<Record<(typeof FAMILIES)[number], { attention: Seq2SeqAttention; source: number[]; decoderIds: number[] }>> = {};
beforeAll(async () => {
  for (const family of FAMILIES) {
    const model = await loadSeq2SeqFolder(await fixtureFolder(family), { device: 'cpu' });
    models[family] = model;
    const sessions = await openAttentionSessions(model);
    const source = model.tokenizer.encode(TEXT);
    const decoderIds = [model.config.decoderStartTokenId, ...ANSWER];
    results[family] = { attention: await seq2seqAttention(model, sessions, source, decoderIds), source, decoderIds };
    await sessions.release();
  }
}, 120_000);
afterAll(async () => {
  for (const model of Object.values(models)) await model?.release();
});

const maxDiff = (a: number[], b: number[]) => a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i])), 0);

describe('seq2seq attention', () => {
  for (const family of FAMILIES) {
    it(`${family}: every layer and head of the three kinds; rows sum to 1 and equal the float64 reference`, () => {
      const { attention, source, decoderIds } = results[family]!;
      const spec = FIXTURE_SPECS[family];
      const reference = seq2seqReference(spec, buildSeq2SeqModel(spec).weights, source, decoderIds);
      const shapes = [
        [attention.encoder.data, [2, 4, source.length, source.length], reference.encoderAttention],
        [attention.decoder.data, [2, 4, decoderIds.length, decoderIds.length], reference.decoderAttention],
        [attention.cross.data, [2, 4, decoderIds.length, source.length], reference.crossAttention],
      ] as const;
      for (const [data, [layers, heads, rows, keys], expected] of shapes) {
        expect([data.length, data[0].length, data[0][0].length, data[0][0][0].length]).toEqual([layers, heads, rows, keys]);
        for (const row of data.flat(2)) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
        expect(maxDiff(data.flat(3), expected.flat(3))).toBeLessThan(1e-4);
      }
      // Causal: decoder position t sees nothing after t.
      for (const row of attention.decoder.data.flatMap((layer) => layer.flatMap((head) => head.map((values, t) => values.slice(t + 1))))) {
        expect(Math.max(0, ...row)).toBe(0);
      }
      // The cross mean is the average over layers and heads; rollout rows are distributions over the source.
      const mean = attention.cross.mean;
      expect(mean[2][3]).toBeCloseTo(attention.cross.data.flat().reduce((sum, head) => sum + head[2][3], 0) / 8, 6);
      for (const row of attention.encoder.rollout) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    });
  }

  for (const family of FAMILIES) {
    it(`${family}: cross-attention equals softmax of the captured Q·Kᵀ, and rows sliced in the graph equal full rows`, async () => {
      const model = models[family]!;
      const { attention, source, decoderIds } = results[family]!;
      const merged = decodeModel(await readFile(join(model.path, model.variant.decoderFile)));
      const instrumented = instrumentSeq2SeqDecoder(merged, { captureQueryKey: true });
      expect(instrumented.self).toHaveLength(2);
      expect(instrumented.cross).toHaveLength(2);
      const session = await ort.InferenceSession.create(encodeModel(instrumented.model));
      const encoded = await encodeSource(model, source);
      const feeds = decoderFeeds(model, encoded, decoderIds);
      delete feeds.use_cache_branch;
      const rows = (start: number, end: number) => ({
        [EXPLAIN_NAMES.rowStart]: new ort.Tensor('int64', BigInt64Array.from([BigInt(start)]), [1]),
        [EXPLAIN_NAMES.rowEnd]: new ort.Tensor('int64', BigInt64Array.from([BigInt(end)]), [1]),
      });
      const out = await session.run({ ...feeds, ...rows(0, decoderIds.length) });
      const scale = FAMILY_TRAITS[FIXTURE_SPECS[family].family].scaled ? 1 / Math.sqrt(model.config.headDim) : 1;
      for (let layer = 0; layer < 2; layer++) {
        const q = out[`explain_cross_query_${layer}`];
        const k = out[`explain_cross_key_${layer}`]; // [1, heads, D, S] (already transposed)
        const [, heads, T, D] = q.dims;
        const S = k.dims[3];
        expect(S).toBe(source.length);
        const qd = q.data as Float32Array;
        const kd = k.data as Float32Array;
        for (let h = 0; h < heads; h++) {
          for (let t = 0; t < T; t++) {
            const scores = Array.from({ length: S }, (_, s) => {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += qd[(h * T + t) * D + d] * kd[(h * D + d) * S + s];
              return dot * scale;
            });
            const max = Math.max(...scores);
            const exps = scores.map((v) => Math.exp(v - max));
            const sum = exps.reduce((a, b) => a + b, 0);
            expect(maxDiff(attention.cross.data[layer][h][t], exps.map((e) => e / sum))).toBeLessThan(1e-5);
          }
        }
      }
      const sliced = await session.run({ ...feeds, ...rows(2, 4) });
      const cross = sliced[CROSS_ATTENTION_OUTPUT];
      expect(cross.dims).toEqual([2, 4, 2, source.length]);
      const full = out[CROSS_ATTENTION_OUTPUT].data as Float32Array;
      const part = cross.data as Float32Array;
      for (let l = 0; l < 2; l++)
        for (let h = 0; h < 4; h++)
          for (let r = 0; r < 2; r++)
            for (let s = 0; s < source.length; s++) expect(part[((l * 4 + h) * 2 + r) * source.length + s]).toBe(full[((l * 4 + h) * decoderIds.length + r + 2) * source.length + s]);
      encoded.hidden.dispose();
      await session.release();
    }, 60_000);
  }
});
