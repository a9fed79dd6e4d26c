// GroupQueryAttention's own probabilities (qk_output = 2, onnxruntime's CPU kernel) against our decomposition of
// the same node, on every GroupQueryAttention fixture form: the instrumented graphs' attention rows and rollout
// must agree. Times of both forward passes are printed (measured, not asserted).
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { EXPLAIN_NAMES, instrumentModel } from '../../../main/engine/attention/instrument';
import { forwardFeeds } from '../../../main/engine/attention/feeds';
import { decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { createSession, int64Tensor } from '../../../main/engine/runtime';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { maxAbsDiff } from './helpers';

const GQA_FIXTURES: FixtureName[] = ['llama-fused-gqa', 'llama-fused-gqa-rope', 'llama-fused-gqa-qknorm', 'llama-fused-gqa-bias-sink', 'llama-fused-gqa-smooth'];
const IDS = Array.from({ length: Number(process.env.ATTENTION_TIMING_LENGTH ?? 64) }, (_, i) => 100 + ((i * 7919) % 30000));

async function attentionOf(bytes: Uint8Array, repeats: number): Promise<{ attention: Float32Array; rollout: Float32Array; milliseconds: number }> {
  const session = await createSession(bytes, 'cpu', { intraOpNumThreads: 1 });
  try {
    const feeds = forwardFeeds(session, IDS, { [EXPLAIN_NAMES.rowStart]: int64Tensor([0], [1]), [EXPLAIN_NAMES.rowEnd]: int64Tensor([IDS.length], [1]) });
    const times: number[] = [];
    let outputs = await session.run(feeds, [EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout]);
    for (let i = 0; i < repeats; i++) {
      const start = performance.now();
      outputs = await session.run(feeds, [EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout]);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const attention = outputs[EXPLAIN_NAMES.attention];
    return { attention: attention.data as Float32Array, rollout: outputs[EXPLAIN_NAMES.rollout].data as Float32Array, milliseconds: times[Math.floor(times.length / 2)] ?? 0 };
  } finally {
    await session.release();
  }
}

describe('GroupQueryAttention qk_output = 2 against the decomposition', () => {
  for (const name of GQA_FIXTURES) {
    it(`${name}: same attention rows and rollout`, async () => {
      const model = decodeModel(await readFile(`${await fixtureFolder(name)}/onnx/model.onnx`));
      const native = instrumentModel(model, { nativeProbabilities: true });
      const decomposed = instrumentModel(model);
      expect(native.decomposed).not.toContain('com.microsoft:GroupQueryAttention');
      const kernels = native.model.graph!.node.filter((n) => n.opType === 'GroupQueryAttention');
      expect(kernels.map((n) => n.attribute.find((a) => a.name === 'qk_output')?.i)).toEqual([2n, 2n]);
      expect(decomposed.decomposed).toContain('com.microsoft:GroupQueryAttention');
      expect(native.sites.length).toBe(decomposed.sites.length);
      const repeats = Number(process.env.ATTENTION_TIMING_REPEATS ?? 0);
      const fromKernel = await attentionOf(encodeModel(native.model), repeats);
      const fromGraph = await attentionOf(encodeModel(decomposed.model), repeats);
      expect(fromKernel.attention.length).toBe(fromGraph.attention.length);
      const attentionGap = maxAbsDiff(fromKernel.attention, fromGraph.attention);
      const rolloutGap = maxAbsDiff(fromKernel.rollout, fromGraph.rollout);
      if (repeats > 0) console.log(`${name}: T=${IDS.length} native ${fromKernel.milliseconds.toFixed(2)} ms, decomposed ${fromGraph.milliseconds.toFixed(2)} ms, gaps ${attentionGap} / ${rolloutGap}`);
      expect(attentionGap).toBeLessThanOrEqual(1e-5);
      expect(rolloutGap).toBeLessThanOrEqual(1e-5);
    });
  }
});
