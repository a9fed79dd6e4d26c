// Integrated gradients: the batched computation equals a brute-force step-by-step one (one session run per
// path point, accumulated here), and completeness improves as steps grow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { geometricSpacing, quadrature, type QuadratureRule } from '../../../main/engine/gradients/methods/quadrature';
import { DataType } from '../../../main/engine/onnx/proto';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const ROWS = IDS.length - PROMPT;
let program: GradientProgram;

beforeAll(async () => {
  program = await GradientProgram.open({ model: `${await fixtureFolder('llama')}/onnx/model.onnx`, floatType: DataType.DOUBLE });
});
afterAll(async () => program.release());

/** IG by definition: one run per point, f summed over answer rows, attributions Σ_h (x − x')·Σ_k w_k ∇f. */
async function bruteForce(rule: QuadratureRule, steps: number, baseline: Float64Array, geometric = false) {
  return naiveLoop(geometric ? geometricSpacing(quadrature(rule, steps)) : quadrature(rule, steps), baseline);
}

/** The same loop over points and weights given by the caller. */
async function naiveLoop({ points, weights }: { points: number[]; weights: number[] }, baseline: Float64Array) {
  const hidden = program.hiddenSize;
  const input = embed(program.split.table, hidden, IDS);
  const attributions = new Float64Array(IDS.length);
  const f = async (alpha: number) => {
    const embeddings = input.map((v, i) => baseline[i] + alpha * (v - baseline[i]));
    const out = await program.run({ embeddings, batch: 1, ids: IDS, positions: IDS.slice(PROMPT).map((_, t) => PROMPT + t - 1), targetIds: IDS.slice(PROMPT), cotangent: new Float64Array(ROWS).fill(1), rows: 1 });
    return { value: Array.from(out.logProbs).reduce((a, v) => a + v, 0), gradient: out.gradient };
  };
  for (let k = 0; k < points.length; k++) {
    const { gradient } = await f(points[k]);
    for (let p = 0; p < IDS.length; p++) {
      for (let h = 0; h < hidden; h++) {
        const i = p * hidden + h;
        attributions[p] += weights[k] * gradient[i] * (input[i] - baseline[i]);
      }
    }
  }
  return { attributions, delta: (await f(1)).value - (await f(0)).value };
}

describe('integrated gradients', () => {
  for (const [rule, steps, batchSize] of [['gauss-legendre', 8, 4], ['trapezoid', 6, 3], ['midpoint', 5, 16]] as const) {
    it(`${rule} with ${steps} steps equals the step-by-step computation (batches of ${batchSize})`, async () => {
      const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule, steps, baseline: 'pad', baselineTokenId: 0, batchSize } });
      const table = program.split.table;
      const hidden = program.hiddenSize;
      const baseline = new Float64Array(IDS.length * hidden).map((_, i) => table[i % hidden]);
      const reference = await bruteForce(rule, steps, baseline);
      const ig = result.integratedGradients!;
      expect(ig.attributions.length).toBe(IDS.length);
      for (let p = 0; p < IDS.length; p++) expect(ig.attributions[p]).toBeCloseTo(reference.attributions[p], 5);
      expect(ig.delta).toBeCloseTo(reference.delta, 8);
      const total = reference.attributions.reduce((a, v) => a + v, 0);
      expect(ig.completenessError).toBeCloseTo(Math.abs(total - reference.delta) / Math.abs(reference.delta), 5);
    });
  }

  it('the zero baseline uses geometric spacing, and matches the step-by-step computation', async () => {
    const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps: 6, baseline: 'zero', batchSize: 4 } });
    const reference = await bruteForce('midpoint', 6, new Float64Array(IDS.length * program.hiddenSize), true);
    expect(result.integratedGradients!.spacing).toBe('geometric');
    for (let p = 0; p < IDS.length; p++) expect(result.integratedGradients!.attributions[p]).toBeCloseTo(reference.attributions[p], 4);
  });

  it("uniform midpoint is Captum's riemann_middle: equals per-α gradient calls at α_k = (k − ½)/n, weights 1/n", async () => {
    const steps = 8;
    const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps, baseline: 'zero', spacing: 'uniform', batchSize: 3 } });
    const ig = result.integratedGradients!;
    expect(ig.spacing).toBe('uniform');
    expect(ig.spacingDefaulted).toBe(false);
    // α and weights written out here, not taken from the quadrature module.
    const points = Array.from({ length: steps }, (_, k) => (k + 1 - 0.5) / steps);
    const reference = await naiveLoop({ points, weights: points.map(() => 1 / steps) }, new Float64Array(IDS.length * program.hiddenSize));
    const scale = Math.max(...reference.attributions.map(Math.abs));
    // float64 program; the attributions are stored as float32 (relative rounding 6e-8).
    for (let p = 0; p < IDS.length; p++) expect(Math.abs(ig.attributions[p] - reference.attributions[p]) / scale).toBeLessThan(2e-7);
    expect(ig.delta).toBeCloseTo(reference.delta, 9);
    const total = reference.attributions.reduce((a, v) => a + v, 0);
    expect(ig.completenessError).toBeCloseTo(Math.abs(total - reference.delta) / Math.abs(reference.delta), 6);
  });

  it('an explicit rule without a spacing states the default that applied (geometric for zero, uniform otherwise)', async () => {
    const zero = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps: 4, baseline: 'zero' } });
    expect(zero.integratedGradients).toMatchObject({ spacing: 'geometric', spacingDefaulted: true });
    const pad = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps: 4, baseline: 'pad', baselineTokenId: 0 } });
    expect(pad.integratedGradients).toMatchObject({ spacing: 'uniform', spacingDefaulted: true });
    const geometric = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps: 4, baseline: 'pad', baselineTokenId: 0, spacing: 'geometric' } });
    expect(geometric.integratedGradients).toMatchObject({ spacing: 'geometric', spacingDefaulted: false });
  });

  it('completeness error shrinks as steps grow, and large errors carry a warning', async () => {
    const errors: number[] = [];
    for (const steps of [4, 16, 64]) {
      const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps, baseline: 'pad', baselineTokenId: 0 } });
      errors.push(result.integratedGradients!.completenessError);
    }
    expect(errors[1]).toBeLessThan(errors[0]);
    expect(errors[2]).toBeLessThan(errors[1]);
    expect(errors[2]).toBeLessThan(0.005);
    const coarse = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['integrated_gradients'], ig: { rule: 'midpoint', steps: 4, baseline: 'zero', spacing: 'uniform' } });
    expect(coarse.integratedGradients!.completenessError).toBeGreaterThan(0.05);
    expect(coarse.integratedGradients!.warning).toMatch(/incomplete/);
  });

  it('defaults (pad baseline, Gauss–Legendre, 32 steps) are complete within 1% on the fixtures', async () => {
    for (const fixture of ['llama', 'gpt2'] as const) {
      const model = `${await fixtureFolder(fixture)}/onnx/model.onnx`;
      const ids = fixture === 'gpt2' ? [464, 3139, 286, 4881, 318, 6342, 13, 383, 3139] : IDS;
      // Undefined fields (as the CLI passes unset options) keep the defaults.
      const result = await computeGradients({ modelPath: model, ids, promptLength: 5, methods: ['integrated_gradients'], ig: { steps: undefined, rule: undefined } });
      expect(result.integratedGradients!.steps).toBe(32);
      expect(result.integratedGradients!.completenessError).toBeLessThan(0.01);
      expect(result.integratedGradients!.warning).toBeUndefined();
    }
  });
});
