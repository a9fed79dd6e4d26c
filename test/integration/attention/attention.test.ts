// Attention on every fixture architecture: invariants, an independent computation from captured Q and K,
// fused/decomposed twins, in-graph rollout and row slicing, manual mode, and the not-found error.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionRollout, causalSoftmaxRows, meanOverHeads, rowPositionsFor } from '../../../shared/attention-math';
import { computeAttention, type AttentionResult } from '../../../main/engine/attention/compute';
import { AttentionNotFoundError } from '../../../main/engine/attention/detect';
import { EXPLAIN_NAMES, instrumentModel } from '../../../main/engine/attention/instrument';
import { forwardFeeds } from '../../../main/engine/attention/feeds';
import { normalizeConfig } from '../../../main/engine/config';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, decodeModel, encodeModel } from '../../../main/engine/onnx/proto';
import { createSession, int64Tensor } from '../../../main/engine/runtime';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { maxAbsDiff } from './helpers';

const FIXTURES: FixtureName[] = ['llama', 'gpt2', 'llama-fused-gqa', 'llama-fused-mha', 'llama-fused-q4', 'llama-fp16', 'llama-external'];
const IDS = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203];
const PROMPT = 5;
let cacheDir: string;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'attention-test-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

async function fixture(name: FixtureName) {
  const dir = await fixtureFolder(name);
  const onnxFile = name === 'llama-fp16' ? 'model_fp16.onnx' : 'model.onnx';
  const modelPath = join(dir, 'onnx', onnxFile);
  const config = normalizeConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
  return { dir, modelPath, config };
}

const results = new Map<FixtureName, AttentionResult>();
async function allRows(name: FixtureName): Promise<AttentionResult> {
  if (!results.has(name)) {
    const { modelPath, config } = await fixture(name);
    results.set(name, await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir }));
  }
  return results.get(name)!;
}

describe.each(FIXTURES)('attention on fixture %s', (name) => {
  it('rows sum to 1 and are zero above the causal diagonal', async () => {
    const result = await allRows(name);
    const T = IDS.length;
    expect(result.data.length).toBe(result.layers * result.heads * T * T);
    let worstSum = 0;
    let worstFuture = 0;
    for (let block = 0; block < result.layers * result.heads; block++) {
      for (let row = 0; row < T; row++) {
        let sum = 0;
        for (let col = 0; col < T; col++) {
          const value = result.data[(block * T + row) * T + col];
          sum += value;
          if (col > row) worstFuture = Math.max(worstFuture, Math.abs(value));
        }
        worstSum = Math.max(worstSum, Math.abs(sum - 1));
      }
    }
    expect(worstSum).toBeLessThanOrEqual(1e-5);
    expect(worstFuture).toBe(0);
  });

  it('each head equals softmax(Q·Kᵀ/√d + causal mask) from the captured Q and K', async () => {
    const { modelPath, config } = await fixture(name);
    const result = await allRows(name);
    const instrumented = instrumentModel(decodeModel(await readFile(modelPath)), { captureQueryKey: true, rollout: false });
    const { writeFile } = await import('node:fs/promises');
    // Written next to the original so external weights resolve.
    const path = join(modelPath, '..', `capture-test-${process.pid}.onnx`);
    await writeFile(path, encodeModel(instrumented.model));
    const session = await createSession(path, 'cpu');
    try {
      const T = IDS.length;
      const feeds = forwardFeeds(session, IDS, { [EXPLAIN_NAMES.rowStart]: int64Tensor([0], [1]), [EXPLAIN_NAMES.rowEnd]: int64Tensor([T], [1]) });
      const captured = instrumented.queryKey!;
      const outputs = await session.run(feeds, captured.flatMap((c) => [c.query, c.key]));
      const D = config.headDim;
      let worst = 0;
      captured.forEach(({ query, key, keyTransposed }, layer) => {
        const q = outputs[query];
        const k = outputs[key];
        const heads = q.dims[1];
        expect(q.dims).toEqual([1, heads, T, D]);
        const qData = q.data as Float32Array;
        const kData = k.data as Float32Array;
        for (let h = 0; h < heads; h++) {
          const scores = new Float64Array(T * T);
          for (let i = 0; i < T; i++)
            for (let j = 0; j < T; j++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += qData[(h * T + i) * D + d] * (keyTransposed ? kData[(h * D + d) * T + j] : kData[(h * T + j) * D + d]);
              scores[i * T + j] = dot / Math.sqrt(D);
            }
          causalSoftmaxRows(scores, T, rowPositionsFor('all', T, 1));
          const actual = result.data.subarray(((layer * heads + h) * T) * T, ((layer * heads + h + 1) * T) * T);
          worst = Math.max(worst, maxAbsDiff(actual, scores));
        }
      });
      expect(worst).toBeLessThanOrEqual(1e-5);
    } finally {
      await session.release();
      await rm(path, { force: true });
    }
  });

  it('in-graph rollout equals the rollout of the full head-mean matrices; answer rows are slices of all rows', async () => {
    const { modelPath, config } = await fixture(name);
    const all = await allRows(name);
    const T = IDS.length;
    const tensor = { shape: { layers: all.layers, heads: all.heads, rows: T, cols: T }, data: all.data, rowPositions: all.rowPositions };
    const expectedRollout = attentionRollout(meanOverHeads(tensor), all.rowPositions);
    expect(maxAbsDiff(all.rollout, expectedRollout)).toBeLessThanOrEqual(1e-5);

    const answer = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'answer', cacheDir });
    expect(answer.rowPositions).toEqual([4, 5, 6, 7, 8, 9, 10]);
    const R = answer.rowPositions.length;
    for (let block = 0; block < all.layers * all.heads; block++) {
      answer.rowPositions.forEach((position, r) => {
        const fromAll = all.data.subarray((block * T + position) * T, (block * T + position + 1) * T);
        const sliced = answer.data.subarray((block * R + r) * T, (block * R + r + 1) * T);
        expect(maxAbsDiff(sliced, fromAll)).toBe(0);
      });
    }
    answer.rowPositions.forEach((position, r) =>
      expect(maxAbsDiff(answer.rollout.subarray(r * T, (r + 1) * T), all.rollout.subarray(position * T, (position + 1) * T))).toBeLessThanOrEqual(1e-6),
    );
    expect(maxAbsDiff(answer.input, all.input)).toBeLessThanOrEqual(1e-6);
  });
});

describe('explain outputs only', () => {
  it.each(['llama', 'gpt2', 'llama-fused-gqa', 'llama-external'] as const)('%s: no logits or present outputs, fewer nodes, the same rows and rollout', async (name) => {
    const { modelPath } = await fixture(name);
    const decoded = decodeModel(await readFile(modelPath));
    const full = instrumentModel(decoded, { nativeProbabilities: true });
    const pruned = instrumentModel(decoded, { nativeProbabilities: true, explainOutputsOnly: true });
    expect(pruned.model.graph!.output.map((o) => o.name)).toEqual([EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout]);
    expect(full.model.graph!.output.map((o) => o.name)).toContain('logits');
    // The lm_head (and the final norm) only feed the logits: gone, with their weights.
    expect(pruned.model.graph!.node.length).toBeLessThan(full.model.graph!.node.length);
    expect(pruned.model.graph!.initializer.length).toBeLessThan(full.model.graph!.initializer.length);
    expect(pruned.model.graph!.node.some((node) => node.output.includes('logits'))).toBe(false);
    const { writeFile } = await import('node:fs/promises');
    const T = IDS.length;
    const rows = async (model: typeof full.model, tag: string) => {
      // Written next to the original so external weights resolve.
      const path = join(modelPath, '..', `explain-only-${tag}-${process.pid}.onnx`);
      await writeFile(path, encodeModel(model));
      const session = await createSession(path, 'cpu');
      try {
        const feeds = forwardFeeds(session, IDS, { [EXPLAIN_NAMES.rowStart]: int64Tensor([PROMPT - 1], [1]), [EXPLAIN_NAMES.rowEnd]: int64Tensor([T], [1]) });
        const outputs = await session.run(feeds, [EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout]);
        return { inputs: session.inputNames, attention: outputs[EXPLAIN_NAMES.attention].data as Float32Array, rollout: outputs[EXPLAIN_NAMES.rollout].data as Float32Array };
      } finally {
        await session.release();
        await rm(path, { force: true });
      }
    };
    const expected = await rows(full.model, 'full');
    const actual = await rows(pruned.model, 'pruned');
    // The same feeds fill both: the inputs stay.
    expect(actual.inputs).toEqual(expected.inputs);
    expect(actual.attention.length).toBe(expected.attention.length);
    expect(maxAbsDiff(actual.attention, expected.attention)).toBe(0);
    expect(maxAbsDiff(actual.rollout, expected.rollout)).toBe(0);
  });
});

describe('layer order', () => {
  it.each(['llama', 'gpt2', 'llama-fused-gqa'] as const)("%s: each layer's attention waits for the previous layer's explain nodes", async (name) => {
    const { modelPath } = await fixture(name);
    const model = instrumentModel(decodeModel(await readFile(modelPath)), { nativeProbabilities: true, explainOutputsOnly: true }).model;
    const graph = model.graph!;
    const producer = new Map(graph.node.flatMap((node) => node.output.map((output) => [output, node] as const)));
    const ancestors = (start: (typeof graph.node)[number]) => {
      const seen = new Set([start]);
      const stack = [start];
      while (stack.length > 0) {
        for (const input of stack.pop()!.input) {
          const node = producer.get(input);
          if (node && !seen.has(node)) (seen.add(node), stack.push(node));
        }
      }
      return seen;
    };
    // Where each layer's attention starts (its Softmax, or the fused node returning its probabilities) and its probabilities.
    const starts = graph.node.filter((node) => node.opType === 'Softmax' || node.opType === 'GroupQueryAttention');
    const probabilities = starts.map((node) => (node.opType === 'Softmax' ? node.output[0] : node.output[3]));
    expect(starts.length).toBeGreaterThan(1);
    for (let layer = 1; layer < starts.length; layer++) {
      const explainOfPrevious = [...ancestors(starts[layer])].filter((node) => node.name.startsWith('explain/') && node.input.includes(probabilities[layer - 1]));
      // The row slice and the rollout's head mean of the previous layer.
      expect(explainOfPrevious.length).toBeGreaterThanOrEqual(2);
    }
  });
});

describe('fused and decomposed twins', () => {
  for (const fused of ['llama-fused-gqa', 'llama-fused-mha', 'llama-fused-gqa-rope'] as const) {
    it(`${fused} gives the probabilities of 'llama'`, async () => {
      const reference = await allRows('llama');
      const twin = await allRows(fused);
      expect([twin.layers, twin.heads]).toEqual([reference.layers, reference.heads]);
      expect(maxAbsDiff(twin.data, reference.data)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe('manual mode and errors', () => {
  it('q_proj/k_proj patterns on the llama fixture match automatic detection', async () => {
    const { modelPath, config } = await fixture('llama');
    const automatic = await allRows('llama');
    const manual = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir, manual: { query: 'q_proj', key: 'k_proj' } });
    expect(manual.method).toBe('manual');
    expect(manual.sources.length).toBe(config.numLayers);
    expect(maxAbsDiff(manual.data, automatic.data)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(manual.rollout, automatic.rollout)).toBeLessThanOrEqual(1e-5);
  });

  it('a graph without attention gives an error naming what was searched', () => {
    const g = new GraphBuilder();
    const x = g.input('x', DataType.FLOAT, [1, 'n', 4]);
    const hidden = g.op('MatMul', [x, g.float(new Array(16).fill(0.1), [4, 4])]);
    g.ops('Softmax', [g.op('MatMul', [hidden, g.float(new Array(16).fill(0.2), [4, 4])])], { axis: -1 }, { outputNames: ['y'] });
    g.output('y', DataType.FLOAT);
    expect(() => instrumentModel(g.build())).toThrow(AttentionNotFoundError);
    expect(() => instrumentModel(g.build())).toThrow(/Softmax.*MatMul\(Q, Kᵀ\).*GroupQueryAttention.*manual mode/s);
  });

  it('reuses the cached instrumented graph', async () => {
    const { modelPath, config } = await fixture('gpt2');
    await allRows('gpt2');
    const again = await computeAttention({ modelPath, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir });
    expect(again.timings.prepare).toBe(0);
    expect(maxAbsDiff(again.data, (await allRows('gpt2')).data)).toBe(0);
  });
});
