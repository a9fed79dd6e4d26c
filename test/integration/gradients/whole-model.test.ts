// Whole-model gradient checks on every fixture architecture: the explain graph (embeddings as input, target
// head on R rows) differentiated in float64 against central finite differences of the target log-probabilities,
// the target values against the unmodified model's own logits, and causal zeros after each row's target.
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { DataType } from '../../../main/engine/onnx/proto';
import { answerRowsRun, finiteDifferenceGap, referenceLogProbs } from './reference';

const FIXTURES: { name: FixtureName; file?: string }[] = [
  { name: 'llama' },
  { name: 'gpt2' },
  { name: 'llama-fused-gqa' },
  { name: 'llama-fused-mha' },
  { name: 'llama-fused-q4' },
  { name: 'llama-fused-gqa-rope' },
  { name: 'llama-fused-gqa-qknorm' },
  { name: 'llama-fused-gqa-bias-sink' },
  { name: 'llama-fused-gqa-smooth' },
  { name: 'llama-fp16', file: 'model_fp16.onnx' },
  { name: 'llama-external' },
];
const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

describe('whole-model gradients (float64 finite differences)', () => {
  for (const fixture of FIXTURES) {
    it(`${fixture.name}: gradients, target values and causal zeros`, async () => {
      const path = `${await fixtureFolder(fixture.name)}/onnx/${fixture.file ?? 'model.onnx'}`;
      const program = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE });
      open.push(program);
      const hidden = program.hiddenSize;
      const rows = IDS.length - PROMPT;
      const positions = IDS.length;
      const run = answerRowsRun(program, IDS, PROMPT);
      const analytic = await program.run(run);

      // Target values equal the unmodified model's log-softmax at the target positions (float32 reference).
      const reference = await referenceLogProbs(path, IDS);
      for (let t = 0; t < rows; t++) expect(analytic.logProbs[t]).toBeCloseTo(reference[PROMPT + t - 1][IDS[PROMPT + t]], 3);

      // Causal zeros: row t's gradient vanishes from its answer token's position on.
      for (let r = 0; r < rows; r++) {
        for (let p = PROMPT + r; p < positions; p++) {
          for (let h = 0; h < hidden; h++) expect(analytic.gradient[(r * positions + p) * hidden + h]).toBe(0);
        }
      }

      const { maxError, maxMagnitude } = await finiteDifferenceGap(program, run, analytic, [[0, 3], [2, 10], [5, 7], [7, 1], [8, hidden - 1]]);
      expect(maxMagnitude).toBeGreaterThan(1e-3);
      expect(maxError).toBeLessThan(1e-7);
    });
  }
});
