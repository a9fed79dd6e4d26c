// Every gradient method, in the default float32 path, on the GroupQueryAttention export whose rotary is a separate
// com.microsoft RotaryEmbedding (1-D position offset computed from attention_mask, do_rotary = 0). The same weights
// in the optimum-style 'llama' fixture (plain MatMul/Softmax, rotary from position_ids) are the independent
// reference: both graphs compute the same function, so every method must give the same numbers. (Finite
// differences of the fused fixtures themselves run in whole-model.test.ts.)
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, GRADIENT_METHODS, releaseGradientPrograms, type GradientResult } from '../../../main/engine/gradients/compute';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30];
const PROMPT = 5;
afterAll(releaseGradientPrograms);

function largestGap(a: ArrayLike<number>, b: ArrayLike<number>): { gap: number; scale: number } {
  let gap = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    gap = Math.max(gap, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { gap, scale };
}

describe('gradient methods on GroupQueryAttention fed by com.microsoft RotaryEmbedding', () => {
  it('saliency, gradient × input, raw gradient and integrated gradients equal those of the decomposed twin', async () => {
    const run = async (name: 'llama' | 'llama-fused-gqa-rope'): Promise<GradientResult> =>
      computeGradients({
        modelPath: `${await fixtureFolder(name)}/onnx/model.onnx`,
        ids: IDS,
        promptLength: PROMPT,
        methods: GRADIENT_METHODS,
        ig: { steps: 8, baseline: 'pad', baselineTokenId: 0, rule: 'gauss-legendre' },
      });
    const fused = await run('llama-fused-gqa-rope');
    const reference = await run('llama');
    for (const [t, value] of reference.targetLogProbs.entries()) expect(fused.targetLogProbs[t]).toBeCloseTo(value, 4);
    const pairs: [string, ArrayLike<number>, ArrayLike<number>][] = [
      ['saliency', fused.saliency!, reference.saliency!],
      ['grad_x_input', fused.gradXInput!, reference.gradXInput!],
      ['raw_gradient', fused.raw!, reference.raw!],
      ['integrated_gradients', fused.integratedGradients!.attributions, reference.integratedGradients!.attributions],
    ];
    for (const [method, actual, expected] of pairs) {
      expect(actual.length, method).toBe(expected.length);
      const { gap, scale } = largestGap(actual, expected);
      expect(scale, method).toBeGreaterThan(1e-3);
      expect(gap / scale, method).toBeLessThan(1e-4);
    }
    expect(fused.integratedGradients!.delta).toBeCloseTo(reference.integratedGradients!.delta, 4);
  });
});
