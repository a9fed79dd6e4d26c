// Occlusion and faithfulness curves on the llama fixture against explicit separate forwards of the prepared
// graph's full logits (log-softmaxed here), one edited input at a time: a different graph (no target head),
// no batching.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { openGradientProgram, releaseGradientPrograms } from '../../../main/engine/gradients/compute';
import type { GradientProgram } from '../../../main/engine/gradients/program';
import { writeModelFiles } from '../../../main/engine/gradients/model-files';
import { withGraph } from '../../../main/engine/gradients/graph-tools';
import { makeValueInfo } from '../../../main/engine/onnx/proto';
import { createSession, type SessionHandle } from '../../../main/engine/runtime';
import { TargetForward } from '../../../main/engine/methods/target-forward';
import { computeOcclusion, withBaseline } from '../../../main/engine/methods/occlusion';
import { attributionOrder, computeFaithfulness, pointCounts } from '../../../main/engine/methods/faithfulness';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const ANSWER = IDS.length - PROMPT;
let program: GradientProgram;
let forward: TargetForward;
let logitsSession: SessionHandle;
let input: Float32Array;
let zero: Float32Array;

beforeAll(async () => {
  const path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
  const cacheDir = mkdtempSync(join(tmpdir(), 'occlusion-'));
  program = await openGradientProgram(path, 'cpu', cacheDir);
  forward = await TargetForward.open(program, 'cpu', cacheDir);
  // The reference: the prepared graph (embeddings in) with its full logits as the only output.
  const model = await program.preparedModel();
  const file = join(cacheDir, 'reference.onnx');
  await writeModelFiles(withGraph(model, { output: [makeValueInfo('logits')] }), file);
  logitsSession = await createSession(file, 'cpu');
  input = program.embedIds(IDS);
  zero = new Float32Array(program.hiddenSize);
}, 120_000);

afterAll(async () => {
  await forward?.release();
  await logitsSession?.release();
  await releaseGradientPrograms();
});

/** f_t for every answer token from one separate forward of `embeddings`, log-softmax in float64. */
async function referenceF(embeddings: Float32Array): Promise<number[]> {
  const run = { embeddings, batch: 1, ids: IDS, positions: [], targetIds: [], cotangent: new Float32Array(0), rows: 0 };
  const feeds = program.feeds(logitsSession.inputs.map((i) => ({ name: i.name, dims: i.shape })), run);
  const logits = (await logitsSession.run(feeds, ['logits'])).logits;
  const vocab = logits.dims[2];
  const data = logits.data as Float32Array;
  return Array.from({ length: ANSWER }, (_, t) => {
    const row = data.subarray((PROMPT + t - 1) * vocab, (PROMPT + t) * vocab);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
    return row[IDS[PROMPT + t]] - logSum;
  });
}

const sum = (values: number[]) => values.reduce((s, v) => s + v, 0);

describe('occlusion', () => {
  it('equals explicit separate forwards with e_j zeroed; exactly 0 from q_t + 1 on, where those forwards change nothing', async () => {
    const occlusion = await computeOcclusion({ forward, input, baseline: zero, baselineName: 'zero', ids: IDS, promptLength: PROMPT });
    expect(occlusion.forwards).toBe(IDS.length); // the original and T − 1 ablations (the last position predicts nothing)
    const original = await referenceF(input);
    for (let j = 0; j < IDS.length; j++) {
      const ablated = await referenceF(withBaseline(input, zero, [j]));
      for (let t = 0; t < ANSWER; t++) {
        const q = PROMPT + t - 1;
        if (j <= q) expect(occlusion.perToken[t][j]).toBeCloseTo(original[t] - ablated[t], 4);
        else {
          expect(occlusion.perToken[t][j]).toBe(0);
          expect(Math.abs(original[t] - ablated[t])).toBeLessThan(1e-5);
        }
      }
      expect(occlusion.sequence[j]).toBeCloseTo(sum(occlusion.perToken.map((row) => row[j])), 10);
    }
    // Not trivially zero: the prompt matters.
    expect(Math.max(...occlusion.sequence.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('a pad-token baseline and span occlusion ablate what they say', async () => {
    const pad = program.embedIds([0]);
    const spans: [number, number][] = [[0, 2], [2, 5], [5, 6], [6, 8], [8, 10]];
    const occlusion = await computeOcclusion({ forward, input, baseline: pad, baselineName: 'pad', ids: IDS, promptLength: PROMPT, spans, spanName: 'word' });
    expect(occlusion.spans).toEqual(spans);
    const original = await referenceF(input);
    const ablated = await referenceF(withBaseline(input, pad, [2, 3, 4]));
    for (let t = 0; t < ANSWER; t++) for (const j of [2, 3, 4]) expect(occlusion.perToken[t][j]).toBeCloseTo(original[t] - ablated[t], 4);
    // Span [6, 8) starts after q_0 = 5 (row 0 is 0 there) and straddles q_1 = 6: row 1 carries the span's value at 6 only.
    expect(occlusion.perToken[0][6]).toBe(0);
    expect(occlusion.perToken[1][7]).toBe(0);
    const straddle = await referenceF(withBaseline(input, pad, [6, 7]));
    expect(occlusion.perToken[1][6]).toBeCloseTo(original[1] - straddle[1], 4);
  });
});

describe('faithfulness curves', () => {
  it('deletion[0] = F(x), deletion at 100% = F(all prompt baseline) = insertion[0]; a middle point matches its explicit input', async () => {
    const attribution = [0.5, -1, 2, 0.1, 0.3, 1, null, null, null, null];
    const result = await computeFaithfulness({ forward, input, baseline: zero, ids: IDS, promptLength: PROMPT, attributions: { saliency: attribution }, randomOrders: 2 });
    const curve = result.curves.saliency;
    expect(curve.deletion).toHaveLength(11);
    expect(curve.insertion).toHaveLength(11);
    const full = sum(await referenceF(input));
    const allPromptZero = sum(await referenceF(withBaseline(input, zero, [0, 1, 2, 3, 4, 5])));
    expect(curve.deletion[0]).toBeCloseTo(full, 4);
    expect(curve.deletion[10]).toBeCloseTo(allPromptZero, 4);
    expect(curve.insertion[0]).toBeCloseTo(allPromptZero, 4);
    expect(curve.insertion[10]).toBeCloseTo(full, 4);
    // k = 50%: 3 positions, the top three by attribution: 2, 5, 0.
    expect(attributionOrder(attribution, PROMPT).slice(0, 3)).toEqual([2, 5, 0]);
    expect(pointCounts(PROMPT)[5]).toBe(3);
    expect(curve.deletion[5]).toBeCloseTo(sum(await referenceF(withBaseline(input, zero, [2, 5, 0]))), 4);
    expect(curve.insertion[5]).toBeCloseTo(sum(await referenceF(withBaseline(input, zero, [1, 3, 4]))), 4);
    expect(curve.aopcDeletion).toBeCloseTo(sum(curve.deletion.map((v) => curve.deletion[0] - v)) / 11, 10);
    expect(curve.aopcInsertion).toBeCloseTo(sum(curve.insertion.map((v) => v - curve.insertion[0])) / 11, 10);
    // The random control shares the end points.
    expect(result.curves.random.deletion[0]).toBeCloseTo(full, 4);
    expect(result.curves.random.deletion[10]).toBeCloseTo(allPromptZero, 4);
    // Shared inputs run once: fewer forwards than 2 × 11 per order.
    expect(result.forwards).toBeLessThan(3 * 22);
  });
});
