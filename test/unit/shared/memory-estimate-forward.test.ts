// Batches of the forward-only stages chosen from the budget: the largest that keeps the estimate within it, checked
// against the estimate itself one batch up (measured peaks: test/integration/memory/estimate.test.ts).
import { describe, expect, it } from 'vitest';
import { estimatePeakMemory, type ModelDimensions, type RunShape } from '../../../shared/memory-estimate';
import { MAX_PERTURBATION_BATCH, MAX_VALUE_ZEROING_BATCH } from '../../../shared/memory-estimate-forward';

/** The 9 M builder llama of the memory tests (h128 × 4 layers, vocabulary 32,000, a 36 MB fp32 file). */
const MODEL: ModelDimensions = { layers: 4, heads: 4, kvHeads: 2, hidden: 128, headDim: 32, vocab: 32000, intermediate: 344, fileBytes: 35_725_837, weightBytes: 4 };
const shape = (methods: string[], budgetBytes?: number): RunShape => ({ promptLength: 248, answerLength: 8, methods, attentionRows: 'answer', igSteps: 32, budgetBytes });

describe.each([
  ['occlusion', 'perturbation', MAX_PERTURBATION_BATCH],
  ['value_zeroing', 'valueZeroing', MAX_VALUE_ZEROING_BATCH],
] as const)('%s batch from the budget', (method, key, max) => {
  const stageBytes = (budget: number) => estimatePeakMemory(MODEL, shape([method], budget));

  it('is the largest batch whose estimate fits: one more would not', () => {
    // From the smallest budget a batch of 1 fits in (the estimate under a zero budget) upward.
    const least = stageBytes(0).peakBytes;
    for (const budget of [least, least + 50e6, least + 150e6, least + 300e6]) {
      const estimate = stageBytes(budget);
      const batch = estimate.batches[key]!;
      expect(estimate.peakBytes).toBeLessThanOrEqual(budget);
      if (batch < max) {
        // Per item: the difference the budget-free estimate shows between the maximum batch and this one.
        const free = estimatePeakMemory(MODEL, shape([method]));
        const perItem = (free.peakBytes - estimate.peakBytes) / (max - batch);
        expect(estimate.peakBytes + perItem).toBeGreaterThan(budget);
      }
    }
  });

  it('takes the previous fixed size without a budget or with plenty, and 1 when even that does not fit (then refused)', () => {
    expect(estimatePeakMemory(MODEL, shape([method])).batches[key]).toBe(max);
    expect(stageBytes(24e9).batches[key]).toBe(max);
    const tight = stageBytes(100e6);
    expect(tight.batches[key]).toBe(1);
    expect(tight.peakBytes).toBeGreaterThan(100e6);
    expect(tight.stage).toBe(method === 'occlusion' ? 'perturbation' : 'value_zeroing');
  });

  it('grows with the budget', () => {
    const least = stageBytes(0).peakBytes;
    const batches = [0, 50e6, 100e6, 200e6, 400e6].map((more) => stageBytes(least + more).batches[key]!);
    expect(batches[0]).toBe(1);
    for (let i = 1; i < batches.length; i++) expect(batches[i]).toBeGreaterThanOrEqual(batches[i - 1]);
    expect(batches[batches.length - 1]).toBeGreaterThan(batches[0]);
  });
});
