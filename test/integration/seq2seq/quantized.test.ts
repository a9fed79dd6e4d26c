// The q4 variant of the T5-style fixture (encoder_model_q4.onnx + decoder_model_merged_q4.onnx, 4-bit MatMulNBits
// also inside the merged decoder's If branches): `--dtype q4` loads the pair, greedy generation equals transformers.js'
// generate() on the same files, attention rows sum to 1, and gradients run on the dequantized weights: the explain
// graph's targets equal the q4 sessions' teacher-forced log-probabilities and its gradients central finite differences.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, decodeModel, type NodeProto } from '../../../main/engine/onnx/proto';
import { loadSeq2SeqFolder, type LoadedSeq2Seq } from '../../../main/engine/seq2seq/folder';
import { generateSeq2Seq, scoreSeq2Seq } from '../../../main/engine/seq2seq/generate';
import { openSeq2SeqGradients, runSeq2SeqGradients, targetSeed } from '../../../main/engine/seq2seq/gradients';
import { runExplanation } from '../../../main/service/pipeline';
import { loadReferenceSeq2SeqLM, referenceSeq2SeqGreedy } from '../../../main/engine/transformers';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';
import { finiteDifferenceError } from './finite-differences';

const SOURCE = [17824, 4300, 298, 5567, 2];
const ANSWER = [250, 3000, 42, 2];

let model: LoadedSeq2Seq;
let temp: TempStore;
beforeAll(async () => {
  model = await loadSeq2SeqFolder(await fixtureFolder('t5'), { dtype: 'q4', device: 'cpu' });
  temp = tempStore();
}, 120_000);
afterAll(async () => {
  await model?.release();
  temp?.dispose();
});

describe('seq2seq q4 variant (T5-style, MatMulNBits)', () => {
  it('loads the q4 pair, whose weight MatMuls are 4-bit, and generates what transformers.js generates from it', async () => {
    expect(model.variant).toEqual({ dtype: 'q4', encoderFile: 'onnx/encoder_model_q4.onnx', decoderFile: 'onnx/decoder_model_merged_q4.onnx' });
    const decoder = decodeModel(await readFile(join(model.path, model.variant.decoderFile)));
    const ops = (nodes: NodeProto[]): string[] => nodes.flatMap((n) => [n.opType, ...n.attribute.flatMap((a) => (a.g ? ops(a.g.node) : []))]);
    expect(ops(decoder.graph!.node)).toContain('MatMulNBits');
    expect(ops(decoder.graph!.node).filter((op) => op === 'MatMul').length).toBeGreaterThan(0); // Q·Kᵀ and P·V stay float
    const reference = await loadReferenceSeq2SeqLM(model.path, { dtype: 'q4' });
    try {
      for (const text of ['translate English to German: The house is wonderful.', 'summarize: studies have shown that owning a dog is good for you']) {
        const source = model.tokenizer.encode(text);
        const ours = await generateSeq2Seq(model, source, { maxNewTokens: 6 });
        expect([model.config.decoderStartTokenId, ...ours.ids]).toEqual(await referenceSeq2SeqGreedy(reference, source, 6));
      }
    } finally {
      await reference.dispose();
    }
  }, 120_000);

  it('a q4 run: attention rows sum to 1 for the three kinds, gradients over both sides', async () => {
    const request = { modelPath: model.path, dtype: 'q4', task: 'translation' as const, inputIds: SOURCE, answerIds: ANSWER, generation: { maxNewTokens: 4 }, methods: ['attention', 'saliency'], device: 'cpu' as const };
    const { run } = await runExplanation(request, { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') });
    expect(run.model.dtype).toBe('q4');
    const attention = run.attention!;
    for (const data of [attention.data, attention.encoder!.data, attention.cross!.data]) {
      for (const layer of data) for (const head of layer) for (const row of head) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-4);
    }
    expect(run.gradient!.source!.saliency).toHaveLength(ANSWER.length);
    expect(run.gradient!.source!.saliency!.flat().every((v) => v > 0)).toBe(true);
  }, 120_000);

  it('gradients on the dequantized weights: targets equal the q4 sessions\' log-probabilities, gradients finite differences (float64)', async () => {
    const read = async (file: string) => decodeModel(await readFile(join(model.path, file)));
    const decoderIds = [FIXTURE_SPECS.t5.decoderStartTokenId, ...ANSWER.slice(0, -1)];
    const program = await openSeq2SeqGradients(await read(model.variant.encoderFile), await read(model.variant.decoderFile), SOURCE, decoderIds, ANSWER, ANSWER.length, DataType.DOUBLE);
    try {
      const values = (await runSeq2SeqGradients(program, SOURCE, decoderIds, ANSWER)).logProbs;
      const scored = await scoreSeq2Seq(model, SOURCE, ANSWER);
      scored.forEach((logProb, t) => expect(Math.abs(values[t] - logProb)).toBeLessThan(1e-4));
      // The 4-bit weights are not the float32 ones: the fp32 pair scores the same answer differently.
      const fp32 = await loadSeq2SeqFolder(model.path, { device: 'cpu' });
      const full = await scoreSeq2Seq(fp32, SOURCE, ANSWER).finally(() => fp32.release());
      expect(Math.max(...full.map((v, t) => Math.abs(v - scored[t])))).toBeGreaterThan(1e-3);
      const { error, magnitude } = await finiteDifferenceError(program, SOURCE, decoderIds, ANSWER, targetSeed('token', ANSWER.length, decoderIds.length), {});
      expect(magnitude).toBeGreaterThan(1e-3);
      expect(error).toBeLessThan(1e-7);
    } finally {
      await program.release();
    }
  }, 120_000);
});
