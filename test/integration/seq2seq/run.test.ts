// Encoder-decoder runs through the real pipeline and a real store: the run JSON's source (T5 task prefixes),
// decoder tokens with promptLength 1, attention.data / encoder / cross with their shapes and meaning, supplied
// answers (ids and text), stored tensors, and the refusal of methods not available for seq2seq yet.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { runExplanation } from '../../../main/service/pipeline';
import { loadSeq2SeqFolder } from '../../../main/engine/seq2seq/folder';
import { generateSeq2Seq } from '../../../main/engine/seq2seq/generate';
import { fixtureFolder } from '../../fixtures/models';
import { storedRunJson } from '../../../main/run-export';
import { tempStore, type TempStore } from '../service/helpers';

let temp: TempStore;
beforeAll(() => {
  temp = tempStore();
});
afterAll(() => temp?.dispose());

async function explain(family: 'bart' | 't5' | 'marian', overrides: Partial<ExplainRequest>): Promise<RunJson> {
  const request: ExplainRequest = { modelPath: await fixtureFolder(family), task: 'translation', generation: { maxNewTokens: 5 }, methods: ['attention'], device: 'cpu', ...overrides };
  const { run } = await runExplanation(request, { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') });
  return run;
}

const shape = (data: number[][][][]) => [data.length, data[0].length, data[0][0].length, data[0][0][0].length];

describe('seq2seq runs', () => {
  it('T5 translation: the task prefix renders the source; tokens are the decoder ids after the start token', async () => {
    const run = await explain('t5', { prompt: 'The house is wonderful.' });
    expect(run.status).toBe('done');
    expect(run.source!.rendered).toBe('translate English to German: The house is wonderful.');
    const model = await loadSeq2SeqFolder(await fixtureFolder('t5'), { device: 'cpu' });
    expect(run.source!.ids).toEqual(model.tokenizer.encode(run.source!.rendered!));
    expect(run.source!.ids.at(-1)).toBe(2); // </s> appended, T5-style
    expect(run.source!.text.join('')).toContain('translate');
    // Word starts of the source by the tokenizer's own ▁ marks (the word view groups the source with them).
    const vocabulary = new Map([...model.tokenizer.get_vocab()].map(([token, id]) => [id, token]));
    expect(run.source!.wordStarts).toEqual(run.source!.ids.map((id, i) => i === 0 || id === 2 || vocabulary.get(id)!.startsWith('▁')));
    const generated = await generateSeq2Seq(model, run.source!.ids, { maxNewTokens: 5 });
    await model.release();
    expect(run.tokens.ids).toEqual([32000, ...generated.ids]);
    expect(run.promptLength).toBe(1);
    expect(run.tokens.role).toEqual(['prompt', ...generated.ids.map(() => 'answer')]);
    const n = generated.ids.length;
    const S = run.source!.ids.length;
    const attention = run.attention!;
    expect(shape(attention.data)).toEqual([2, 4, n, n + 1]);
    expect(shape(attention.encoder!.data)).toEqual([2, 4, S, S]);
    expect(shape(attention.cross!.data)).toEqual([2, 4, n, S]);
    expect(attention.rowPositions).toEqual(Array.from({ length: n }, (_, t) => t));
    for (const row of attention.cross!.mean) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(attention.input).toHaveLength(S);
    // Row t of the decoder self-attention is decoder position t: it sees positions 0 … t only.
    expect(attention.data[1][2][0].slice(1).every((p) => p === 0)).toBe(true);
    // Stored: the run reads back with its source, and the three attention tensors are in the store.
    const stored = temp.store.getRun(run.id)!;
    expect(stored.source).toEqual(run.source);
    expect(stored.model.file).toBe('onnx/decoder_model_merged.onnx');
    const tensors = new Map(temp.store.tensorInfo(run.id).map((info) => [info.name, info.shape]));
    expect(tensors.get('attention.data')).toEqual([2, 4, n, n + 1]);
    expect(tensors.get('attention.encoder.data')).toEqual([2, 4, S, S]);
    expect(tensors.get('attention.cross.data')).toEqual([2, 4, n, S]);
    // The stored JSON keeps the bulk arrays empty (they live in the tensors); read whole, the documented shape
    // comes back from the tensors within their float16 bound (relative 2⁻¹¹ of probabilities ≤ 1).
    expect(stored.attention!.encoder!.data).toEqual([]);
    expect(stored.attention!.cross!.data).toEqual([]);
    expect(stored.attention!.cross!.mean).toEqual(attention.cross!.mean);
    const whole = storedRunJson(temp.store, run.id, { includeAttentionData: true })!;
    const close = (read: number[][][][], computed: number[][][][]) => {
      expect(shape(read)).toEqual(shape(computed));
      const worst = Math.max(...read.flat(3).map((value, index) => Math.abs(value - computed.flat(3)[index])));
      expect(worst).toBeLessThanOrEqual(2 ** -11);
    };
    close(whole.attention!.encoder!.data, attention.encoder!.data);
    close(whole.attention!.cross!.data, attention.cross!.data);
    close(whole.attention!.data, attention.data);
    expect(whole.attention!.encoder!.encoding?.dtype).toBe('float16');
    expect(storedRunJson(temp.store, run.id)!.attention!.encoder!.data).toEqual([]);
    // Head statistics of each kind against a direct computation over one head's rows.
    const naive = (rows: number[][], position: (row: number) => number) => ({
      entropy: rows.reduce((sum, row) => sum - row.reduce((e, a) => e + (a > 0 ? a * Math.log(a) : 0), 0), 0) / rows.length,
      maxWeight: rows.reduce((sum, row) => sum + Math.max(...row), 0) / rows.length,
      firstToken: rows.reduce((sum, row) => sum + row[0], 0) / rows.length,
      previous: rows.map((row, r) => (position(r) >= 1 ? row[position(r) - 1] : NaN)).filter((v) => !Number.isNaN(v)),
    });
    const encoderHead = naive(attention.encoder!.data[1][2], (s) => s);
    const encoderStats = stored.attention!.encoder!.headStats!;
    expect(encoderStats.entropy[1][2]).toBeCloseTo(encoderHead.entropy, 6);
    expect(encoderStats.maxWeight[1][2]).toBeCloseTo(encoderHead.maxWeight, 6);
    expect(encoderStats.firstToken[1][2]).toBeCloseTo(encoderHead.firstToken, 6);
    expect(encoderStats.previousToken[1][2]).toBeCloseTo(encoderHead.previous.reduce((a, b) => a + b, 0) / encoderHead.previous.length, 6);
    const crossHead = naive(attention.cross!.data[0][3], () => 0);
    const crossStats = stored.attention!.cross!.headStats!;
    expect(crossStats.entropy[0][3]).toBeCloseTo(crossHead.entropy, 6);
    expect(crossStats.firstToken[0][3]).toBeCloseTo(crossHead.firstToken, 6);
    expect(crossStats.previousToken[0][3]).toBeNull();
    const decoderHead = naive(attention.data[1][1], (t) => t);
    expect(stored.attention!.headStats!.entropy[1][1]).toBeCloseTo(decoderHead.entropy, 6);
    expect(stored.attention!.headStats!.previousToken[1][1]).toBeCloseTo(decoderHead.previous.reduce((a, b) => a + b, 0) / decoderHead.previous.length, 6);
    // The encoder's mean over layers and heads.
    const meanCell = attention.encoder!.data.flatMap((layer) => layer.map((head) => head[2][1])).reduce((a, b) => a + b, 0) / 8;
    expect(stored.attention!.encoder!.mean![2][1]).toBeCloseTo(meanCell, 6);
  }, 120_000);

  it('BART from --input-ids and --answer-ids: exact ids, the decoded source kept for display', async () => {
    const run = await explain('bart', { task: 'summarization', inputIds: [0, 7649, 17664, 3598, 2], answerIds: [0, 500, 600, 2] });
    expect(run.source!.ids).toEqual([0, 7649, 17664, 3598, 2]);
    expect(run.source!.rendered).toBeUndefined();
    expect(run.input.decodedPrompt).toBeTruthy();
    expect(run.tokens.ids).toEqual([2, 0, 500, 600, 2]);
    expect(run.generation.supplied).toBe(true);
    expect(shape(run.attention!.cross!.data)).toEqual([2, 4, 4, 5]);
  }, 120_000);

  it('a supplied answer text is tokenized as a target (BART: <s> … </s>)', async () => {
    const run = await explain('bart', { prompt: 'A long article.', answer: 'Short.' });
    expect(run.tokens.ids[0]).toBe(2);
    expect(run.tokens.ids[1]).toBe(0);
    expect(run.tokens.ids.at(-1)).toBe(2);
    expect(run.answerText).toBe('Short.');
  }, 120_000);

  it('gradients: saliency and grad × input over decoder positions and the source; IG over the source with completeness', async () => {
    const run = await explain('bart', { prompt: 'A long article about houses.', methods: ['saliency', 'grad_x_input', 'integrated_gradients'], options: { igSteps: 32 } });
    const n = run.tokens.ids.length - 1;
    const S = run.source!.ids.length;
    const gradient = run.gradient!;
    expect(gradient.targetValues).toHaveLength(n);
    expect([gradient.saliency!.length, gradient.saliency![0].length]).toEqual([n, n + 1]);
    expect([gradient.gradXInput!.length, gradient.gradXInput![0].length]).toEqual([n, n + 1]);
    expect([gradient.source!.saliency!.length, gradient.source!.saliency![0].length]).toEqual([n, S]);
    expect([gradient.source!.gradXInput!.length, gradient.source!.gradXInput![0].length]).toEqual([n, S]);
    // Row t depends on decoder positions 0 … t only, and on every source token.
    gradient.saliency!.forEach((row, t) => expect(row.slice(t + 1).every((v) => v === 0)).toBe(true));
    expect(gradient.source!.saliency!.flat().every((v) => v > 0)).toBe(true);
    const ig = run.integratedGradients!;
    expect(ig).toMatchObject({ input: 'source', baseline: 'pad', steps: 32, rule: 'midpoint' });
    expect(ig.attributions).toHaveLength(S);
    expect(ig.completenessError).toBeLessThan(0.05 * Math.abs(ig.delta) + 1e-3);
    expect(temp.store.getRun(run.id)!.integratedGradients).toEqual(ig);
  }, 120_000);

  it('refuses methods not available for encoder-decoder models in one actionable line', async () => {
    await expect(explain('marian', { prompt: 'Hello', methods: ['occlusion'] })).rejects.toThrow(/^occlusion is not available for encoder-decoder models yet: use --methods attention,saliency,grad_x_input,gradient,integrated_gradients$/);
  });
});
