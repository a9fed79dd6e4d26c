// Encoder-decoder loading and generation on the BART-, T5- and Marian-style fixture folders: our loop equals
// transformers.js' own generate() token for token (forced BOS/EOS included), teacher forcing agrees with the
// generation's log-probabilities and with the float64 reference, and bad folders are refused in one line.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { loadSeq2SeqFolder, type LoadedSeq2Seq } from '../../../main/engine/seq2seq/folder';
import { forcedLogits, generateSeq2Seq, scoreSeq2Seq } from '../../../main/engine/seq2seq/generate';
import { loadReferenceSeq2SeqLM, referenceSeq2SeqGreedy } from '../../../main/engine/transformers';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';

const FAMILIES = ['bart', 't5', 'marian'] as const;
const SOURCES = ['translate English to German: The house is wonderful.', 'summarize: studies have shown that owning a dog is good for you'];

const loaded: Partial<Record<(typeof FAMILIES)[number], LoadedSeq2Seq>> = {};
beforeAll(async () => {
  for (const family of FAMILIES) loaded[family] = await loadSeq2SeqFolder(await fixtureFolder(family), { device: 'cpu' });
}, 120_000);
afterAll(async () => {
  for (const model of Object.values(loaded)) await model?.release();
});

function encode(model: LoadedSeq2Seq, text: string): number[] {
  return model.tokenizer.encode(text);
}

describe('seq2seq generation', () => {
  for (const family of FAMILIES) {
    it(`${family}: greedy generation equals transformers.js generate() token for token`, async () => {
      const model = loaded[family]!;
      const reference = await loadReferenceSeq2SeqLM(model.path);
      for (const text of SOURCES) {
        const source = encode(model, text);
        for (const maxNewTokens of [1, 6]) {
          const ours = await generateSeq2Seq(model, source, { maxNewTokens });
          const theirs = await referenceSeq2SeqGreedy(reference, source, maxNewTokens);
          expect([model.config.decoderStartTokenId, ...ours.ids], `${text} / ${maxNewTokens}`).toEqual(theirs);
        }
      }
      await reference.dispose();
    }, 120_000);
  }

  it('applies forced_bos and forced_eos as transformers.js does (BART: <s> first, </s> at the length limit)', async () => {
    const model = loaded.bart!;
    const source = encode(model, SOURCES[0]);
    const result = await generateSeq2Seq(model, source, { maxNewTokens: 5 });
    expect(result.ids[0]).toBe(0);
    expect(result.ids.at(-1)).toBe(2);
    expect(result.stopReason).toBe('eos');
    // The processors alone: only the first step and the last allowed step are forced.
    const row = Float32Array.from({ length: 8 }, (_, i) => i);
    const config = { ...model.config, forcedBosTokenId: 3, forcedEosTokenIds: [5] };
    expect(Array.from(forcedLogits({ config }, row, 1, 6))).toEqual([-Infinity, -Infinity, -Infinity, 0, -Infinity, -Infinity, -Infinity, -Infinity]);
    expect(Array.from(forcedLogits({ config }, row, 5, 6))).toEqual([-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 0, -Infinity, -Infinity]);
    expect(forcedLogits({ config }, row, 3, 6)).toBe(row);
  });

  for (const family of FAMILIES) {
    it(`${family}: teacher forcing gives the generation's log-probabilities and the float64 reference's`, async () => {
      const model = loaded[family]!;
      const source = encode(model, SOURCES[1]);
      const generated = await generateSeq2Seq(model, source, { maxNewTokens: 6 });
      const forced = await scoreSeq2Seq(model, source, generated.ids);
      forced.forEach((value, index) => expect(Math.abs(value - generated.logprobs[index])).toBeLessThan(1e-4));
      const spec = FIXTURE_SPECS[family];
      const weights = buildSeq2SeqModel(spec).weights;
      const decoderIds = [model.config.decoderStartTokenId, ...generated.ids];
      const logits = seq2seqReference(spec, weights, source, decoderIds).logits;
      generated.ids.forEach((token, row) => {
        const max = Math.max(...logits[row]);
        const normalizer = max + Math.log(logits[row].reduce((sum, v) => sum + Math.exp(v - max), 0));
        expect(Math.abs(forced[row] - (logits[row][token] - normalizer))).toBeLessThan(1e-3);
      });
    }, 120_000);
  }

  it('samples reproducibly from a seed, and the T5 config exposes its task prefixes and attention width', async () => {
    const model = loaded.t5!;
    const source = encode(model, SOURCES[0]);
    const first = await generateSeq2Seq(model, source, { maxNewTokens: 6, temperature: 1.5, seed: 7 });
    const again = await generateSeq2Seq(model, source, { maxNewTokens: 6, temperature: 1.5, seed: 7 });
    expect(again.ids).toEqual(first.ids);
    expect(first.seed).toBe(7);
    expect(model.config.taskPrefixes.translation_en_to_de).toBe('translate English to German: ');
    expect(model.config).toMatchObject({ dModel: 32, headDim: 12, encoderLayers: 2, decoderLayers: 2, decoderStartTokenId: 32000 });
  });

  it('loads the fp16 pair by dtype and generates what transformers.js generates from it', async () => {
    const folder = await fixtureFolder('bart');
    const model = await loadSeq2SeqFolder(folder, { dtype: 'fp16', device: 'cpu' });
    expect(model.variant).toEqual({ dtype: 'fp16', encoderFile: 'onnx/encoder_model_fp16.onnx', decoderFile: 'onnx/decoder_model_merged_fp16.onnx' });
    const reference = await loadReferenceSeq2SeqLM(folder, { dtype: 'fp16' });
    const source = encode(model, SOURCES[1]);
    const ours = await generateSeq2Seq(model, source, { maxNewTokens: 6 });
    expect([model.config.decoderStartTokenId, ...ours.ids]).toEqual(await referenceSeq2SeqGreedy(reference, source, 6));
    await reference.dispose();
    await model.release();
  }, 120_000);

  it('refuses a folder without the merged decoder, and a missing dtype, in one actionable line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'seq2seq-bad-'));
    try {
      await cp(await fixtureFolder('t5'), dir, { recursive: true });
      await expect(loadSeq2SeqFolder(dir, { dtype: 'int8' })).rejects.toThrow(/has no int8 encoder\/decoder pair; available: fp32, q4$/);
      for (const file of ['decoder_model_merged.onnx', 'decoder_model_merged_q4.onnx']) await rm(join(dir, 'onnx', file));
      await expect(loadSeq2SeqFolder(dir)).rejects.toThrow(/encoder-decoder model without onnx\/encoder_model\.onnx and onnx\/decoder_model_merged\.onnx: export it with/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
