// Layer checkpointing (layer-checkpoints.ts): the forward of answer rows keeps only the residual stream between blocks
// and the reverse pass recomputes each block's tensors from it. Checked in float64 on builder models and torch exports
// against the program that keeps every forward tensor (`checkpointLayers: false`), against central finite differences
// of the unsplit graph's target values, and on the built graphs: the forward returns fewer tensors, and the reverse
// graph holds the copies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { LAYER_RECOMPUTED } from '../../../main/engine/gradients/layer-checkpoints';
import { DataType } from '../../../main/engine/onnx/proto';
import { builtGraphs } from './built-graphs';
import { answerRowsRun, finiteDifferenceGap } from './reference';

const exports = resolve(__dirname, '..', '..', 'fixtures', 'torch-exports');
const IDS = Array.from({ length: 21 }, (_, i) => 1 + ((i * 37) % 250));
const PROMPT = 16;
const folders: string[] = [];
afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

function cacheFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'layer-checkpoints-'));
  folders.push(folder);
  return folder;
}

/** Raw gradients of every answer row, and what the forward hands the reverse pass. */
async function explain(model: string, checkpointLayers: boolean) {
  const cacheDir = cacheFolder();
  const program = await GradientProgram.open({ model, floatType: DataType.DOUBLE, cacheDir, checkpointLayers });
  try {
    const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['gradient'], rowsPerRun: 2 });
    const { forward, reverse } = builtGraphs(cacheDir);
    return {
      raw: result.raw!,
      logProbs: result.targetLogProbs,
      layerCheckpoints: result.chunking!.layerCheckpoints,
      saved: forward.output.length,
      recomputed: reverse.node.filter((n) => n.name.startsWith(LAYER_RECOMPUTED)).length,
    };
  } finally {
    await program.release();
  }
}

const cases: { name: string; model: () => Promise<string> }[] = [
  { name: 'builder llama (GQA, rotary)', model: async () => `${await fixtureFolder('llama')}/onnx/model.onnx` },
  { name: 'builder gpt2 (fused qkv, learned positions)', model: async () => `${await fixtureFolder('gpt2')}/onnx/model.onnx` },
  { name: 'torch llama export', model: async () => join(exports, 'llama', 'onnx', 'model.onnx') },
  { name: 'torch qwen3 export (dynamo)', model: async () => join(exports, 'qwen3-dynamo', 'onnx', 'model.onnx') },
  { name: 'torch gemma2 export (softcapped scores)', model: async () => join(exports, 'gemma2', 'onnx', 'model.onnx') },
];

describe('layer checkpoints in the reverse pass', () => {
  it.each(cases)('$name: same gradients as keeping every forward tensor; fewer kept', async ({ name, model }) => {
    const path = await model();
    const [kept, checkpointed] = [await explain(path, false), await explain(path, true)];
    expect(kept.layerCheckpoints).toBe(false);
    expect(kept.recomputed).toBe(0);
    expect(checkpointed.layerCheckpoints).toBe(true);
    expect(checkpointed.recomputed).toBeGreaterThan(0);
    expect(checkpointed.saved).toBeLessThan(kept.saved);
    // The same forward nodes, fused alike (float64 programs are not fused: program.ts), rounded alike or nearly.
    const logProbGap = kept.logProbs.reduce((m, v, i) => Math.max(m, Math.abs(v - checkpointed.logProbs[i]) / Math.abs(v)), 0);
    expect(logProbGap).toBeLessThanOrEqual(1e-14);
    const scale = kept.raw.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const error = kept.raw.reduce((m, v, i) => Math.max(m, Math.abs(v - checkpointed.raw[i])), 0);
    expect(scale).toBeGreaterThan(0);
    console.log(`${name}: saved ${kept.saved} → ${checkpointed.saved}, gradient gap ${(error / scale).toExponential(2)} of the largest, target gap ${logProbGap.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-12 * scale);
  }, 180_000);

  it.each([cases[0], cases[4]])('$name: checkpointed row gradients equal central finite differences of the target values', async ({ model: path }) => {
    const model = await path();
    const program = await GradientProgram.open({ model, floatType: DataType.DOUBLE, cacheDir: cacheFolder(), checkpointLayers: true, lengthBuckets: false });
    try {
      const run = answerRowsRun(program, IDS, PROMPT);
      const out = await program.runRows(run, [{ cotangent: run.cotangent, rows: run.rows }]);
      expect(out.layerCheckpoints).toBe(true);
      const analytic = { logProbs: out.logProbs, gradient: out.gradients[0], weightGradients: {} };
      const hidden = program.hiddenSize;
      const { maxError, maxMagnitude } = await finiteDifferenceGap(program, run, analytic, [[0, 3], [2, 10], [5, 7], [8, hidden - 1], [15, 1]]);
      expect(maxMagnitude).toBeGreaterThan(1e-3);
      expect(maxError).toBeLessThan(1e-7);
    } finally {
      await program.release();
    }
  }, 180_000);
});
