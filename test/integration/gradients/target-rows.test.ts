// Narrowing the last position-wise computations to the target rows (target-rows.ts): it must take place on every
// fixture architecture (including the decomposed fused operators) and leave the target values unchanged. The
// derivative graphs built on it are checked against finite differences in whole-model.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { GradientProgram, type ProgramRun } from '../../../main/engine/gradients/program';
import { probeShapes } from '../../../main/engine/gradients/shape-probe';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { narrowToTargets } from '../../../main/engine/gradients/target-rows';
import { TARGET_OUTPUT } from '../../../main/engine/gradients/targets';
import { encodeModel } from '../../../main/engine/onnx/proto';
import { createSession } from '../../../main/engine/runtime';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

describe('narrowing to the target rows', () => {
  for (const name of ['llama', 'gpt2', 'llama-fused-gqa', 'llama-fused-mha', 'llama-fused-q4'] as FixtureName[]) {
    it(`${name}: the last layer's position-wise nodes run on the target rows; values unchanged`, async () => {
      const program = await GradientProgram.open({ model: `${await fixtureFolder(name)}/onnx/model.onnx` });
      open.push(program);
      const model = program.headModel(false);
      const targets = IDS.length - PROMPT;
      const run: ProgramRun = {
        embeddings: embed(program.split.table, program.hiddenSize, IDS),
        batch: 1,
        ids: IDS,
        positions: IDS.slice(PROMPT).map((_, t) => PROMPT + t - 1),
        targetIds: IDS.slice(PROMPT),
        cotangent: new Float32Array(targets),
        rows: 1,
      };
      const feeds = program.feeds(model, run);
      const narrowed = narrowToTargets(model, await probeShapes(model, feeds), targets);
      // At least the final norm, the last MLP (three MatMuls) and the last attention's output projection.
      const narrowedMatMuls = narrowed.model.graph!.node.filter((n) => n.opType === 'MatMul' && n.name.endsWith('/targets'));
      expect(narrowed.narrowedNodes).toBeGreaterThanOrEqual(20);
      expect(narrowedMatMuls.length).toBeGreaterThanOrEqual(5);
      const values = async (m: typeof model) => {
        const session = await createSession(encodeModel(m), 'cpu');
        const result = (await session.run(feeds, [TARGET_OUTPUT]))[TARGET_OUTPUT].data as Float32Array;
        await session.release();
        return result;
      };
      const [full, rows] = [await values(model), await values(narrowed.model)];
      expect(rows.length).toBe(targets);
      for (let t = 0; t < targets; t++) expect(Math.abs(rows[t] - full[t])).toBeLessThan(1e-4);
    });
  }
});
