// attention_norm and value_zeroing through the real pipeline into a real SQLite store, on the llama fixture:
// the run JSON fields (shapes, means, cost), the cost line announced with the value-zeroing stage before it
// runs, the store round trip (show --json's reader) and the token views that read them.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExplanation } from '../../../main/service/pipeline';
import { storedRunJson } from '../../../main/run-export';
import { answerMatrix, availableViewMethods } from '../../../shared/token-values';
import type { RunJson } from '../../../shared/run';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';

let temp: TempStore;
let run: RunJson;
const events: Array<{ stage: string; fraction?: number; message?: string }> = [];

beforeAll(async () => {
  temp = tempStore();
  const model = await fixtureFolder('llama');
  const result = await runExplanation(
    {
      modelPath: model,
      task: 'completion',
      prompt: 'Phone support is open from nine to six. When is phone support open?',
      answer: ' nine to six',
      methods: ['attention_norm', 'value_zeroing'],
      generation: { maxNewTokens: 4 },
      device: 'cpu',
    },
    { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo'), onProgress: (stage, fraction, message) => events.push({ stage, fraction, message }) },
  );
  run = result.run;
}, 240_000);

afterAll(() => temp?.dispose());

describe('attention_norm and value_zeroing in a stored run', () => {
  it('writes both fields with the documented shapes, and no attention field when attention was not asked for', () => {
    const T = run.tokens.ids.length;
    const R = T - run.promptLength;
    expect(run.attention).toBeUndefined();
    const norm = run.attentionNorm!;
    expect([norm.layers, norm.heads, norm.rows]).toEqual([2, 4, 'answer']);
    expect(norm.rowPositions).toEqual(Array.from({ length: R }, (_, t) => run.promptLength + t - 1));
    expect(norm.data.length).toBe(2);
    expect(norm.data[0].length).toBe(4);
    expect(norm.mean.length).toBe(R);
    expect(norm.mean[0].length).toBe(T);
    const zeroing = run.valueZeroing!;
    expect(zeroing.layers).toBe(2);
    expect(zeroing.data.map((layer) => [layer.length, layer[0].length])).toEqual([[R, T], [R, T]]);
    expect(zeroing.cost).toMatchObject({ sequences: 2 * (T - 1), forwards: Math.ceil((2 * (T - 1)) / 16), batchSize: 16 });
    // Mean over layers; causal zeros from each row's own position on (+1).
    zeroing.mean.forEach((row, r) =>
      row.forEach((value, col) => {
        expect(value).toBeCloseTo((zeroing.data[0][r][col] + zeroing.data[1][r][col]) / 2, 6);
        if (col > zeroing.rowPositions[r]) expect(value).toBe(0);
      }),
    );
  });

  it('announces the value-zeroing cost with its stage, before any value-zeroing progress', () => {
    const first = events.findIndex((e) => e.stage === 'value_zeroing');
    const T = run.tokens.ids.length;
    expect(events[first]).toEqual({ stage: 'value_zeroing', fraction: 0, message: `2 layers × ${T - 1} keys = ${2 * (T - 1)} perturbed sequences in ${Math.ceil((2 * (T - 1)) / 16)} forwards of 17` });
  });

  it('reads back from the store: norm data within its float16 bound, value zeroing exactly', () => {
    const stored = storedRunJson(temp.store, run.id, { includeAttentionData: true })!;
    expect(stored.attentionNorm!.encoding?.dtype).toBe('float16');
    let worst = 0;
    stored.attentionNorm!.data.forEach((layer, l) => layer.forEach((head, h) => head.forEach((row, r) => row.forEach((v, c) => (worst = Math.max(worst, Math.abs(v - run.attentionNorm!.data[l][h][r][c]) / Math.max(1e-3, Math.abs(run.attentionNorm!.data[l][h][r][c]))))))));
    expect(worst).toBeLessThanOrEqual(2 ** -10);
    expect(stored.attentionNorm!.mean).toEqual(run.attentionNorm!.mean);
    expect(stored.valueZeroing).toEqual(run.valueZeroing);
    const lean = storedRunJson(temp.store, run.id)!;
    expect(lean.attentionNorm!.data).toEqual([]);
  });

  it('the token views offer both methods and read their mean rows', () => {
    expect(availableViewMethods(run)).toEqual(['attention_norm', 'value_zeroing']);
    const matrix = answerMatrix(run, 'value_zeroing');
    expect(matrix[1].slice(0, run.promptLength + 1)).toEqual(run.valueZeroing!.mean[1].slice(0, run.promptLength + 1));
    expect(matrix[1][run.promptLength + 1]).toBeNull();
    expect(answerMatrix(run, 'attention_norm')[0].slice(0, run.promptLength)).toEqual(run.attentionNorm!.mean[0].slice(0, run.promptLength));
  });
});
