// Batches of the forward-only methods (occlusion, faithfulness curves, value zeroing) are sized from the memory
// budget: the numbers must not depend on the batch (1 against several, on the real fixture sessions), the run JSON
// records the batch the estimate chose, and a second run in the same process takes their sessions warm from the pool.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimatePeakMemory, MEMORY_COEFFICIENTS } from '../../../shared/memory-estimate';
import { MAX_PERTURBATION_BATCH } from '../../../shared/memory-estimate-forward';
import { openGradientProgram, releaseGradientPrograms } from '../../../main/engine/gradients/compute';
import { TargetForward } from '../../../main/engine/methods/target-forward';
import { computeOcclusion } from '../../../main/engine/methods/occlusion';
import { computeFaithfulness } from '../../../main/engine/methods/faithfulness';
import { computeValueZeroing } from '../../../main/engine/methods/value-zeroing';
import { modelDimensions } from '../../../main/engine/memory-check';
import { readModelFolder } from '../../../main/engine/model-folder';
import { SessionPool } from '../../../main/engine/session-pool';
import { runExplanation } from '../../../main/service/pipeline';
import { fixtureFolder } from '../../fixtures/models';
import { request, tempStore, type TempStore } from '../service/helpers';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40, 50];
const PROMPT = 6;
let dir: string;
let modelFolder: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'forward-batches-'));
  modelFolder = await fixtureFolder('llama');
}, 120_000);

afterAll(async () => {
  await releaseGradientPrograms();
  rmSync(dir, { recursive: true, force: true });
});

describe('same numbers whatever the batch', () => {
  it('occlusion and faithfulness curves: batch 1 and batch 4 (not a divisor of the inputs)', async () => {
    const program = await openGradientProgram(join(modelFolder, 'onnx', 'model.onnx'), 'cpu', dir);
    const forward = await TargetForward.open(program, 'cpu', dir);
    try {
      const input = program.embedIds(IDS);
      const zero = new Float32Array(program.hiddenSize);
      const attributions = { first: IDS.map((_, j) => j), last: IDS.map((_, j) => -j) };
      const results = [];
      for (const batch of [1, 4]) {
        forward.batchLimit = batch;
        const occlusion = await computeOcclusion({ forward, input, baseline: zero, baselineName: 'zero', ids: IDS, promptLength: PROMPT });
        const faithfulness = await computeFaithfulness({ forward, input, baseline: zero, ids: IDS, promptLength: PROMPT, attributions });
        expect(occlusion.batch).toBe(batch);
        expect(faithfulness.batch).toBe(batch);
        expect(occlusion.forwards).toBe(IDS.length); // the original and one per position but the last
        results.push({ occlusion: occlusion.perToken, curves: faithfulness.curves });
      }
      expect(results[1]).toEqual(results[0]);
      // The ablations did change something: the comparison is not of two empty results.
      expect(results[0].occlusion.flat().some((v) => Math.abs(v) > 1e-4)).toBe(true);
    } finally {
      await forward.release();
    }
  }, 120_000);

  it('value zeroing: batch 1 and batch 5', async () => {
    const common = { modelPath: join(modelFolder, 'onnx', 'model.onnx'), ids: IDS, promptLength: PROMPT, cacheDir: join(dir, 'vz'), layers: 2 };
    const one = await computeValueZeroing({ ...common, batchSize: 1 });
    const five = await computeValueZeroing({ ...common, batchSize: 5 });
    expect(one.cost.batchSize).toBe(1);
    expect(five.cost.forwards).toBe(Math.ceil((2 * (IDS.length - 1)) / 5));
    expect(Array.from(five.data)).toEqual(Array.from(one.data));
    expect(Array.from(one.data).some((v) => v > 1e-6)).toBe(true);
  }, 120_000);
});

describe('in runs: batch from the budget, sessions from the pool', () => {
  let temp: TempStore;
  beforeAll(() => {
    temp = tempStore();
  });
  afterAll(() => temp?.dispose());

  it('records the batch the estimate chose and reuses the perturbation and value-zeroing sessions on the second run', async () => {
    const pool = new SessionPool(8e9);
    const methods = ['occlusion', 'faithfulness', 'value_zeroing'];
    const base = request({ modelPath: modelFolder, prompt: undefined, inputIds: IDS.slice(0, PROMPT), answerIds: IDS.slice(PROMPT), methods, generation: { maxNewTokens: 5 } });
    const context = { store: temp.store, cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo'), sessions: pool };
    // A budget that leaves room for 3 edited sequences per target-head run: the estimate's own terms, read back.
    const dimensions = modelDimensions(await readModelFolder(modelFolder));
    const shape = { promptLength: PROMPT, answerLength: IDS.length - PROMPT, methods, attentionRows: 'answer' as const, igSteps: 32 };
    const unbounded = estimatePeakMemory(dimensions, shape);
    expect(unbounded.batches).toEqual({ perturbation: MAX_PERTURBATION_BATCH, valueZeroing: 16 });
    const budgetFor = (batch: number) => {
      const perturbation = estimatePeakMemory(dimensions, { ...shape, methods: ['occlusion'] }).parts;
      const perItem = perturbation.find((p) => p.name.startsWith('edited sequences'))!.bytes / MAX_PERTURBATION_BATCH;
      const fixed = perturbation.filter((p) => !p.name.startsWith('edited sequences') && p.name !== 'runtime').reduce((s, p) => s + p.bytes, 0);
      return Math.ceil(MEMORY_COEFFICIENTS.RUNTIME + fixed + (batch + 0.5) * perItem);
    };
    const budget = budgetFor(3);
    expect(estimatePeakMemory(dimensions, { ...shape, methods: ['occlusion', 'faithfulness'], budgetBytes: budget }).batches.perturbation).toBe(3);

    const first = await runExplanation(base, context);
    const second = await runExplanation(base, context);
    // Occlusion and faithfulness alone under the tight budget (value zeroing's own stage would not fit it).
    const third = await runExplanation({ ...base, methods: ['occlusion', 'faithfulness'], memoryBudgetBytes: budget }, context);
    expect(first.run.sessions).toMatchObject({ perturbation: 'cold', valueZeroing: 'cold' });
    expect(second.run.sessions).toMatchObject({ model: 'warm', perturbation: 'warm', valueZeroing: 'warm' });
    expect(third.run.sessions).toMatchObject({ model: 'warm', perturbation: 'warm' });
    for (const { run } of [first, second]) {
      expect(run.occlusion!.batch).toBe(MAX_PERTURBATION_BATCH);
      expect(run.faithfulnessCost!.batch).toBe(MAX_PERTURBATION_BATCH);
      expect(run.valueZeroing!.cost.batchSize).toBe(16);
    }
    expect(third.run.occlusion!.batch).toBe(3);
    expect(third.run.faithfulnessCost!.batch).toBe(3);
    expect(third.run.memory!.budgetBytes).toBe(budget);
    // Warm sessions and another batch change the forwards, never the numbers.
    expect(second.run.faithfulness).toEqual(first.run.faithfulness);
    for (const { run } of [second, third]) expect(run.occlusion!.perToken).toEqual(first.run.occlusion!.perToken);
    // The third run has no value zeroing to order by; the curves it shares with the first are the same.
    expect(Object.keys(third.run.faithfulness!).sort()).toEqual(['occlusion', 'random']);
    for (const method of ['occlusion', 'random']) expect(third.run.faithfulness![method]).toEqual(first.run.faithfulness![method]);
    expect(second.run.valueZeroing!.data).toEqual(first.run.valueZeroing!.data);
    // Stored as returned.
    expect(temp.store.getRun(third.runId)!.occlusion!.batch).toBe(3);
    await pool.release();
  }, 180_000);
});
