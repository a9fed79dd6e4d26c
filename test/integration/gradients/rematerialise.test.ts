// Checkpointed attention (rematerialise.ts): the reverse pass of answer rows recomputes each layer's probabilities
// from Q and Kᵀ instead of taking every layer's from the forward. Checked on builder models and torch exports against
// the earlier program (probabilities kept, `checkpointAttention: false`) in float64, and on the built graphs: the
// forward returns no Softmax output, the reverse pass takes none as input, and its chains are differentiated one after
// the other (sequenceSites).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { REMATERIALISED } from '../../../main/engine/gradients/rematerialise';
import { DataType } from '../../../main/engine/onnx/proto';
import { builtGraphs } from './built-graphs';

const exports = resolve(__dirname, '..', '..', 'fixtures', 'torch-exports');
const IDS = Array.from({ length: 21 }, (_, i) => 1 + ((i * 37) % 250));
const PROMPT = 16;
const folders: string[] = [];
afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** Raw gradients of every answer row, and the Softmax outputs the reverse pass takes from the forward. */
async function explain(model: string, checkpointAttention: boolean) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'rematerialise-'));
  folders.push(cacheDir);
  const program = await GradientProgram.open({ model, floatType: DataType.DOUBLE, cacheDir, checkpointAttention });
  try {
    const result = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['gradient'], rowsPerRun: 2 });
    const { forward, reverse } = builtGraphs(cacheDir);
    const softmaxOutputs = new Set(forward.node.filter((n) => n.opType === 'Softmax').flatMap((n) => n.output));
    return {
      raw: result.raw!,
      logProbs: result.targetLogProbs,
      attentionSites: softmaxOutputs.size,
      probabilitiesSaved: forward.output.filter((o) => softmaxOutputs.has(o.name)).length,
      probabilitiesTaken: reverse.input.filter((i) => softmaxOutputs.has(i.name)).length,
      recomputedSoftmax: reverse.node.filter((n) => n.opType === 'Softmax' && n.name.startsWith(REMATERIALISED)).length,
      // Chains whose reverse work waits for the next chain's (one gated dO and one gated Q each).
      sequenced: reverse.node.filter((n) => n.opType === 'Reshape' && n.name.startsWith(`${REMATERIALISED}order/`)).length / 2,
    };
  } finally {
    await program.release();
  }
}

const cases: { name: string; model: () => Promise<string> }[] = [
  { name: 'builder llama (GQA, rotary)', model: async () => `${await fixtureFolder('llama')}/onnx/model.onnx` },
  { name: 'builder gpt2 (fused qkv, learned positions)', model: async () => `${await fixtureFolder('gpt2')}/onnx/model.onnx` },
  { name: 'torch llama export (Casts around softmax)', model: async () => join(exports, 'llama', 'onnx', 'model.onnx') },
  { name: 'torch gemma2 export (softcapped scores)', model: async () => join(exports, 'gemma2', 'onnx', 'model.onnx') },
];

describe('checkpointed attention in the reverse pass', () => {
  it.each(cases)('$name: same gradients as keeping every layer\'s probabilities; none kept', async ({ model }) => {
    const path = await model();
    const [kept, checkpointed] = [await explain(path, false), await explain(path, true)];
    // The earlier program hands every layer's probabilities (in causal row blocks) to the reverse pass.
    expect(kept.probabilitiesTaken).toBeGreaterThanOrEqual(2);
    expect(kept.recomputedSoftmax).toBe(0);
    // The checkpointed one recomputes them all and keeps none.
    expect(checkpointed.probabilitiesSaved).toBe(0);
    expect(checkpointed.probabilitiesTaken).toBe(0);
    expect(checkpointed.recomputedSoftmax).toBe(kept.probabilitiesTaken);
    // Every chain but the one differentiated first waits for the one before it.
    expect(checkpointed.sequenced).toBe(checkpointed.recomputedSoftmax - 1);
    expect(checkpointed.logProbs).toEqual(kept.logProbs);
    const scale = kept.raw.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const error = kept.raw.reduce((m, v, i) => Math.max(m, Math.abs(v - checkpointed.raw[i])), 0);
    expect(scale).toBeGreaterThan(0);
    expect(error).toBeLessThanOrEqual(1e-12 * scale);
  }, 120_000);
});
