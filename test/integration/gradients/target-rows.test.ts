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
import { computeGradients } from '../../../main/engine/gradients/compute';
import { decodeModel } from '../../../main/engine/onnx/proto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

  it('a narrowed graph whose target values differ from the unmodified graph is rebuilt without narrowing', async () => {
    const path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
    const cacheDir = await mkdtemp(join(tmpdir(), 'llm-explainer-narrow-'));
    try {
      const program = await GradientProgram.open({ model: path, cacheDir });
      open.push(program);
      const request = { program, ids: IDS, promptLength: PROMPT, methods: ['saliency'] as const };
      // The probe's reference values are kept for the build that follows; corrupt them to force the fallback.
      const run: ProgramRun = { embeddings: program.embedIds(IDS), batch: 1, ids: IDS, positions: IDS.slice(PROMPT).map((_, t) => PROMPT + t - 1), targetIds: IDS.slice(PROMPT), cotangent: new Float32Array(IDS.length - PROMPT), rows: 1 };
      await program.activationBytes(run);
      const probe = [...(program as unknown as { probed: Map<string, { values: Map<string, Float32Array> }> }).probed.values()][0];
      probe.values.get(TARGET_OUTPUT)!.fill(123);
      const fallback = await computeGradients({ ...request, methods: [...request.methods] });
      const files = (await readdir(join(cacheDir, 'gradients'))).filter((f) => f.endsWith('.onnx') && !f.endsWith('.reverse.onnx'));
      expect(files.length).toBe(1);
      const forward = decodeModel(await readFile(join(cacheDir, 'gradients', files[0])));
      expect(forward.graph!.node.some((n) => n.name.endsWith('/targets'))).toBe(false);
      // Still the right gradients: the same as a program that narrows.
      const reference = await GradientProgram.open({ model: path });
      open.push(reference);
      const narrowed = await computeGradients({ ...request, program: reference, methods: [...request.methods] });
      fallback.saliency!.forEach((value, i) => expect(Math.abs(value - narrowed.saliency![i])).toBeLessThan(1e-4));
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
