// The issue 16 methods through the real pipeline and store on the llama fixture: every field present with the
// shapes the README states, stored and read back, faithfulness computed for every attribution method of the run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExplanation } from '../../../main/service/pipeline';
import { releaseGradientPrograms } from '../../../main/engine/gradients/compute';
import { UnknownMethodError, validateMethods } from '../../../main/engine/explainers/registry';
import { fixtureFolder } from '../../fixtures/models';
import { request, tempStore, type TempStore } from '../service/helpers';

let temp: TempStore;
let modelPath: string;

beforeAll(async () => {
  temp = tempStore();
  modelPath = await fixtureFolder('llama');
}, 120_000);

afterAll(async () => {
  await releaseGradientPrograms();
  temp?.dispose();
});

describe('issue 16 methods in a run', () => {
  it('stores step scores, logit lens, occlusion and faithfulness of every attribution method', async () => {
    const methods = ['attention', 'saliency', 'step_scores', 'logit_lens', 'occlusion', 'faithfulness'];
    const { runId, run } = await runExplanation(
      request({ modelPath, task: 'completion', prompt: 'The quick brown fox', messages: undefined, answer: ' jumps over', methods, options: { occlusionSpan: 'word' } }),
      { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') },
    );
    const answer = run.tokens.ids.length - run.promptLength;
    const stored = temp.store.getRun(runId)!;
    for (const value of [run, stored]) {
      expect(value.steps!.logprob).toHaveLength(answer);
      expect(value.logitLens!.logprob).toHaveLength(3);
      expect(value.occlusion!.span).toBe('word');
      expect(Object.keys(value.faithfulness!).sort()).toEqual(['attention.mean', 'attention.rollout', 'occlusion', 'random', 'saliency']);
      // The readouts name their top tokens by the tokenizer's strings: where the id is one of the run's, its text.
      const textOf = new Map(value.tokens.ids.map((id, i) => [id, value.tokens.text[i]]));
      value.steps!.top5.forEach((top) => {
        expect(top.texts).toHaveLength(top.ids.length);
        top.ids.forEach((id, k) => textOf.has(id) && expect(top.texts![k]).toBe(textOf.get(id)));
      });
      value.logitLens!.top.forEach((row, l) => row.forEach((id, t) => textOf.has(id) && expect(value.logitLens!.topText![l][t]).toBe(textOf.get(id))));
    }
    // The last lens layer, the step scores and the gradient targets are one quantity.
    run.steps!.logprob.forEach((value, t) => {
      expect(run.logitLens!.logprob[2][t]).toBeCloseTo(value, 4);
      expect(run.gradient!.targetValues![t]).toBeCloseTo(value, 4);
    });
    // F(x) is the first deletion point for every method.
    const F = run.steps!.logprob.reduce((s, v) => s + v, 0);
    for (const curve of Object.values(run.faithfulness!)) expect(curve.deletion[0]).toBeCloseTo(F, 3);
    expect(run.faithfulnessCost!.forwards).toBeGreaterThan(0);
    expect(run.timings.perturbation).toBeGreaterThan(0);
  }, 120_000);

  it('unknown ids list the new ones', () => {
    expect(() => validateMethods(['occlusions'])).toThrow(UnknownMethodError);
    expect(() => validateMethods(['occlusions'])).toThrow(/step_scores, logit_lens, occlusion, faithfulness/);
  });
});
