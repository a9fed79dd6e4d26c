// Value zeroing against explicit separate forwards: for every (layer, key) the original fixture graph gets one
// Mul that zeroes key j's value projection (llama: the v_proj row, before KV-head repetition, so every head that
// reads it; gpt2: the v third of the fused c_attn row, bias included), run on its own with batch 1; the
// layer's output (its second residual Add, by node name) at the answer rows against the unmodified run, cosine
// distance in float64.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPositionsFor } from '../../../shared/attention-math';
import { forwardFeeds } from '../../../main/engine/attention/feeds';
import { normalizeConfig } from '../../../main/engine/config';
import { computeValueZeroing, describeValueZeroingCost, valueZeroingCost, valueZeroingModel } from '../../../main/engine/methods/value-zeroing';
import { decodeModel, encodeModel, makeNode, makeTensor, makeValueInfo } from '../../../main/engine/onnx/proto';
import { createSession } from '../../../main/engine/runtime';
import { buildFusedLlamaModel } from '../../../main/engine/model-builder/fused-llama';
import { LLAMA_FIXTURE_SPEC } from '../../fixtures/recipes';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';

const IDS = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203];
const PROMPT = 5;
let cacheDir: string;
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'value-zeroing-test-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const LAYOUT: Partial<Record<FixtureName, { value: (l: number) => string; valueColumns: 'all' | 'last-third'; output: (l: number) => string }>> = {
  llama: { value: (l) => `/model/layers.${l}/self_attn/v_proj/MatMul_output_0`, valueColumns: 'all', output: (l) => `/model/layers.${l}/Add_1_output_0` },
  gpt2: { value: (l) => `/transformer/h.${l}/attn/c_attn/Add_output_0`, valueColumns: 'last-third', output: (l) => `/transformer/h.${l}/Add_1_output_0` },
};

function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return 1 - dot / Math.sqrt(na * nb);
}

describe.each(Object.keys(LAYOUT) as FixtureName[])('value zeroing on fixture %s', (name) => {
  it('equals explicit separate forwards with one value row zeroed', async () => {
    const layout = LAYOUT[name]!;
    const dir = await fixtureFolder(name);
    const modelPath = join(dir, 'onnx', 'model.onnx');
    const config = normalizeConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    const L = config.numLayers;
    const T = IDS.length;
    const rows = rowPositionsFor('answer', T, PROMPT);
    const messages: string[] = [];
    const result = await computeValueZeroing({ modelPath, ids: IDS, promptLength: PROMPT, cacheDir, layers: L, batchSize: 5, onProgress: (_, m) => m && messages.push(m) });
    expect(result.cost).toMatchObject({ sequences: L * (T - 1), forwards: Math.ceil((L * (T - 1)) / 5), batchSize: 5 });
    expect(messages[0]).toMatch(new RegExp(`^${L} layers × ${T - 1} keys = ${L * (T - 1)} perturbed sequences in ${Math.ceil((L * (T - 1)) / 5)} forwards of 6, about \\d+ s$`));

    const model = decodeModel(await readFile(modelPath));
    const graph = model.graph!;
    const reference = async (layer: number, key: number | undefined) => {
      // Zero key's value row (value columns only) by a Mul on the value projection's output.
      const valueName = layout.value(layer);
      const producer = graph.node.find((n) => n.output.includes(valueName))!;
      const width = (name === 'gpt2' ? 3 : config.numKvHeads / config.numHeads) * config.numHeads * config.headDim;
      const mask = new Float32Array(T * width).fill(1);
      if (key !== undefined) for (let c = layout.valueColumns === 'last-third' ? (2 * width) / 3 : 0; c < width; c++) mask[key * width + c] = 0;
      const renamed = `${valueName}_unmasked`;
      const nodes = graph.node.flatMap((n) =>
        n === producer ? [{ ...n, output: n.output.map((o) => (o === valueName ? renamed : o)) }, makeNode('Mul', [renamed, 'test_mask'], [valueName], 'test_mask_mul')] : [n],
      );
      const edited = {
        ...model,
        graph: { ...graph, node: nodes, initializer: [...graph.initializer, makeTensor('test_mask', mask, [1, T, width])], output: [...graph.output, makeValueInfo(layout.output(layer))] },
      };
      const path = join(dir, 'onnx', `vz-${process.pid}.onnx`);
      await writeFile(path, encodeModel(edited));
      const session = await createSession(path, 'cpu');
      try {
        const out = await session.run(forwardFeeds(session, IDS), [layout.output(layer)]);
        return out[layout.output(layer)].data as Float32Array;
      } finally {
        await session.release();
        await rm(path, { force: true });
      }
    };
    let worst = 0;
    let largest = 0;
    for (let layer = 0; layer < L; layer++) {
      const plain = await reference(layer, undefined);
      const hidden = plain.length / T;
      // A spread of keys (each a separate session): first, early, prompt end, answer, last read.
      for (const key of [0, 1, 4, 7, T - 2]) {
        const zeroed = await reference(layer, key);
        rows.forEach((position, r) => {
          const expected = cosineDistance(plain.subarray(position * hidden, (position + 1) * hidden), zeroed.subarray(position * hidden, (position + 1) * hidden));
          const actual = result.data[(layer * rows.length + r) * T + key];
          if (key > position) expect(actual).toBe(0);
          largest = Math.max(largest, expected);
          worst = Math.max(worst, Math.abs(actual - expected));
        });
      }
    }
    expect(largest).toBeGreaterThan(1e-3);
    expect(worst).toBeLessThanOrEqual(1e-5);
  });
});

describe('value zeroing limits', () => {
  it('states its cost before running', () => {
    const cost = valueZeroingCost(3, 41, 16);
    expect(cost).toEqual({ sequences: 120, forwards: 8, batchSize: 16 });
    expect(describeValueZeroingCost(cost, 3, 20)).toBe('3 layers × 40 keys = 120 perturbed sequences in 8 forwards of 17, about 3 s');
  });

  it('refuses fused residual norms in one line', () => {
    const fused = buildFusedLlamaModel(LLAMA_FIXTURE_SPEC, { attention: 'gqa' }).model;
    expect(() => valueZeroingModel(fused)).toThrow(/^value_zeroing: layer 0: [^\n]*not supported for this model[^\n]*$/);
  });
});
