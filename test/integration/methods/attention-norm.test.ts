// Attention norm against a float64 JavaScript recomputation: the value projections captured from the original
// graph (by their node names in our builder's fixtures), KV heads repeated in JS, the output projection's
// weight read from the file (or, for MatMulNBits, obtained by running that node on the identity matrix), then
// α_ij · ‖v_j,h · W_o[h·D:(h+1)·D]‖ with α from the same run's attention.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeAttention } from '../../../main/engine/attention/compute';
import { forwardFeeds } from '../../../main/engine/attention/feeds';
import { normalizeConfig } from '../../../main/engine/config';
import { GraphIndex } from '../../../main/engine/onnx/graph-index';
import { decodeModel, encodeModel, makeValueInfo, type ModelProto } from '../../../main/engine/onnx/proto';
import { createSession } from '../../../main/engine/runtime';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { runModel } from '../attention/helpers';
import { Tensor } from '../../../main/engine/runtime';

const IDS = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203];
const PROMPT = 5;
let cacheDir: string;
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'attention-norm-test-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

/** Where each fixture keeps a layer's value projection output and its output projection. */
const LAYOUT: Partial<Record<FixtureName, { value: (l: number) => string; valueColumns: 'all' | 'last-third'; projection: (l: number) => string }>> = {
  llama: { value: (l) => `/model/layers.${l}/self_attn/v_proj/MatMul_output_0`, valueColumns: 'all', projection: (l) => `/model/layers.${l}/self_attn/o_proj/MatMul` },
  gpt2: { value: (l) => `/transformer/h.${l}/attn/c_attn/Add_output_0`, valueColumns: 'last-third', projection: (l) => `/transformer/h.${l}/attn/c_proj/MatMul` },
  'llama-fused-q4': { value: (l) => `/model/layers.${l}/attn/v_proj/MatMulNBits_output_0`, valueColumns: 'all', projection: (l) => `/model/layers.${l}/attn/o_proj/MatMulNBits` },
};

/** The projection's weight [in, out]: a plain MatMul's initializer, or any linear node run on the identity. */
async function projectionWeight(model: ModelProto, nodeName: string, inSize: number): Promise<Float32Array> {
  const graph = model.graph!;
  const node = graph.node.find((n) => n.name === nodeName)!;
  const index = new GraphIndex(graph);
  if (node.opType === 'MatMul') return Float32Array.from(index.constantArray(node.input[1]) as Float32Array);
  const used = new Set(node.input.slice(1));
  const probe: ModelProto = {
    ...model,
    graph: {
      ...graph,
      node: [{ ...node, input: ['identity', ...node.input.slice(1)], output: ['weight'] }],
      initializer: graph.initializer.filter((t) => used.has(t.name)),
      input: [makeValueInfo('identity', 1, [inSize, inSize])],
      output: [makeValueInfo('weight')],
      valueInfo: [],
    },
  };
  const identity = new Float32Array(inSize * inSize);
  for (let i = 0; i < inSize; i++) identity[i * inSize + i] = 1;
  return (await runModel(probe, { identity: new Tensor('float32', identity, [inSize, inSize]) }, ['weight'])).weight.data;
}

describe.each(Object.keys(LAYOUT) as FixtureName[])('attention norm on fixture %s', (name) => {
  it('equals α · ‖v_j W_o,h‖ recomputed in float64 from captured values and the projection weight', async () => {
    const layout = LAYOUT[name]!;
    const dir = await fixtureFolder(name);
    const modelPath = join(dir, 'onnx', 'model.onnx');
    const config = normalizeConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    const result = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir, attentionNorm: true, rollout: false });
    const { layers, heads } = result;
    const T = IDS.length;
    const D = config.headDim;
    const groups = heads / config.numKvHeads;
    expect(result.norm!.data.length).toBe(layers * heads * T * T);

    const model = decodeModel(await readFile(modelPath));
    const captureNames = Array.from({ length: layers }, (_, l) => layout.value(l));
    const capture = { ...model, graph: { ...model.graph!, output: [...model.graph!.output, ...captureNames.map((n) => makeValueInfo(n))] } };
    const capturePath = join(dir, 'onnx', `norm-capture-${process.pid}.onnx`);
    await writeFile(capturePath, encodeModel(capture));
    const session = await createSession(capturePath, 'cpu');
    let outputs;
    try {
      outputs = await session.run(forwardFeeds(session, IDS), captureNames);
    } finally {
      await session.release();
      await rm(capturePath, { force: true });
    }

    let worst = 0;
    let largest = 0;
    for (let l = 0; l < layers; l++) {
      const captured = outputs[captureNames[l]];
      const width = Number(captured.dims[2]);
      const offset = layout.valueColumns === 'last-third' ? (2 * width) / 3 : 0;
      const values = captured.data as Float32Array;
      const weight = await projectionWeight(model, layout.projection(l), heads * D);
      const hidden = weight.length / (heads * D);
      for (let h = 0; h < heads; h++) {
        const kv = Math.floor(h / groups); // KV-head repetition: query head h reads KV head h / groups
        for (let j = 0; j < T; j++) {
          let squared = 0;
          for (let o = 0; o < hidden; o++) {
            let sum = 0;
            for (let d = 0; d < D; d++) sum += values[j * width + offset + kv * D + d] * weight[(h * D + d) * hidden + o];
            squared += sum * sum;
          }
          const norm = Math.sqrt(squared);
          for (let i = 0; i < T; i++) {
            const at = ((l * heads + h) * T + i) * T + j;
            const expected = result.data[at] * norm;
            largest = Math.max(largest, Math.abs(expected));
            worst = Math.max(worst, Math.abs(result.norm!.data[at] - expected));
          }
        }
      }
    }
    expect(largest).toBeGreaterThan(0.1);
    expect(worst / largest).toBeLessThanOrEqual(1e-5);
  });
});

describe('attention norm rows and mean', () => {
  it('answer rows are slices of all rows; mean is over layers and heads; causal zeros', async () => {
    const dir = await fixtureFolder('llama');
    const modelPath = join(dir, 'onnx', 'model.onnx');
    const config = normalizeConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    const all = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir, attentionNorm: true });
    const answer = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'answer', cacheDir, attentionNorm: true });
    const T = IDS.length;
    const R = answer.rowPositions.length;
    const blocks = all.layers * all.heads;
    for (let b = 0; b < blocks; b++)
      answer.rowPositions.forEach((position, r) => {
        for (let c = 0; c < T; c++) {
          expect(Math.abs(answer.norm!.data[(b * R + r) * T + c] - all.norm!.data[(b * T + position) * T + c])).toBeLessThanOrEqual(1e-6);
          if (c > position) expect(answer.norm!.data[(b * R + r) * T + c]).toBe(0);
        }
      });
    for (let r = 0; r < R; r++)
      for (let c = 0; c < T; c++) {
        let sum = 0;
        for (let b = 0; b < blocks; b++) sum += answer.norm!.data[(b * R + r) * T + c];
        expect(Math.abs(answer.norm!.mean[r * T + c] - sum / blocks)).toBeLessThanOrEqual(1e-6);
      }
  });

  it('manual attention mode is refused in one line', async () => {
    const dir = await fixtureFolder('llama');
    const config = normalizeConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    await expect(
      computeAttention({ modelPath: join(dir, 'onnx', 'model.onnx'), config, ids: IDS, promptLength: PROMPT, rows: 'answer', cacheDir, attentionNorm: true, manual: { query: 'q_proj', key: 'k_proj' } }),
    ).rejects.toThrow(/^attention_norm needs the attention found by graph structure[^\n]*$/);
  });
});
