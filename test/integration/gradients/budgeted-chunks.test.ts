// Row chunks and integrated-gradient batches sized from the memory budget (compute.ts): a tight budget runs one row
// per reverse pass and one path point per run, a loose one all rows and points together; the numbers are the same
// (float64), and the run JSON reports how they were computed next to the other settings of each method.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, type GradientResult } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { gradientOutputs } from '../../../main/engine/explainers/gradient-family';
import { DataType } from '../../../main/engine/onnx/proto';

const IDS = Array.from({ length: 29 }, (_, i) => 1 + ((i * 61) % 250));
const PROMPT = 19;
const METHODS = ['saliency', 'grad_x_input', 'gradient', 'integrated_gradients'] as const;
let program: GradientProgram;

beforeAll(async () => {
  program = await GradientProgram.open({ model: `${await fixtureFolder('llama')}/onnx/model.onnx`, floatType: DataType.DOUBLE });
});
afterAll(async () => program.release());

function run(budget: { memoryBudgetBytes?: number; memoryHeadroomBytes?: number }): Promise<GradientResult> {
  return computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: METHODS, ig: { steps: 6 }, ...budget });
}

describe('budgeted chunks', () => {
  it('a tight and a loose budget chunk differently and give the same numbers', async () => {
    const tight = await run({ memoryBudgetBytes: 1 });
    const loose = await run({ memoryHeadroomBytes: 64e9 });
    const rows = IDS.length - PROMPT;
    expect(tight.chunking).toMatchObject({ rowsPerReversePass: 1, reversePasses: rows });
    expect(loose.chunking).toMatchObject({ rowsPerReversePass: rows, reversePasses: 1 });
    expect(tight.chunking!.attentionRowBlocks).toBeGreaterThanOrEqual(2);
    expect(loose.chunking!.attentionRowBlocks).toBe(tight.chunking!.attentionRowBlocks);
    // 6 Gauss–Legendre points and both ends: 8 points, 1 per run or all in one.
    expect(tight.integratedGradients).toMatchObject({ pointsPerRun: 1, passes: 'checkpointed' });
    expect(loose.integratedGradients).toMatchObject({ pointsPerRun: 8, passes: 'combined' });
    const pairs = [
      [tight.raw, loose.raw],
      [tight.saliency, loose.saliency],
      [tight.gradXInput, loose.gradXInput],
      [tight.integratedGradients!.attributions, loose.integratedGradients!.attributions],
      [tight.targetLogProbs, loose.targetLogProbs],
    ] as const;
    for (const [a, b] of pairs) {
      expect(a!.length).toBe(b!.length);
      const scale = Math.max(...Array.from(b!, Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < a!.length; i++) expect(Math.abs(a![i] - b![i])).toBeLessThanOrEqual(1e-12 * scale);
    }
    // Recorded in the run JSON with each method's other settings.
    const { json } = gradientOutputs(tight);
    expect(json.gradient!.chunking).toEqual(tight.chunking);
    expect(json.integratedGradients!.pointsPerRun).toBe(1);
  });
});

describe('integrated gradients through the checkpointed passes', () => {
  it('gives the combined graph’s attributions, delta and target values, one point at a time', async () => {
    const ig = (passes: 'combined' | 'checkpointed') => computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { steps: 6, passes } });
    const combined = await ig('combined');
    const checkpointed = await ig('checkpointed');
    expect(combined.integratedGradients!.passes).toBe('combined');
    expect(checkpointed.integratedGradients).toMatchObject({ passes: 'checkpointed', pointsPerRun: 1 });
    const a = checkpointed.integratedGradients!.attributions;
    const b = combined.integratedGradients!.attributions;
    const scale = Math.max(...Array.from(b, Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * scale);
    expect(checkpointed.integratedGradients!.delta).toBeCloseTo(combined.integratedGradients!.delta, 12);
    checkpointed.targetLogProbs.forEach((v, i) => expect(v).toBeCloseTo(combined.targetLogProbs[i], 12));
  });

  it('is what a budget too small for one combined point picks', async () => {
    const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { steps: 4 }, memoryBudgetBytes: 1 });
    expect(result.integratedGradients).toMatchObject({ passes: 'checkpointed', pointsPerRun: 1 });
    expect(gradientOutputs(result).json.integratedGradients!.passes).toBe('checkpointed');
  });
});
