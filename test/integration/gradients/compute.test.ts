// computeGradients on the fixtures: the methods agree with their definitions applied to the raw gradient,
// targets match the unmodified model, batching and chunking change nothing, weight gradients are right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, openGradientProgram, releaseGradientPrograms, type GradientResult } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { DataType } from '../../../main/engine/onnx/proto';
import { referenceLogProbs } from './reference';
import { encodeModel, makeTensor } from '../../../main/engine/onnx/proto';
import { withGraph } from '../../../main/engine/gradients/graph-tools';
import { TARGET_OUTPUT } from '../../../main/engine/gradients/targets';
import { createSession } from '../../../main/engine/runtime';
import { copyFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const ROWS = IDS.length - PROMPT;
let path: string;
let program: GradientProgram;
let tokenRun: GradientResult;

beforeAll(async () => {
  path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
  program = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE });
  tokenRun = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['saliency', 'grad_x_input', 'gradient'] });
});
afterAll(async () => program.release());

describe('computeGradients', () => {
  it('saliency, gradient × input and sequence follow their definitions on the raw gradient', () => {
    const { raw, saliency, gradXInput, hidden, positions } = tokenRun;
    const input = embed(program.split.table, hidden, IDS);
    expect(tokenRun.rows).toBe(ROWS);
    const summed = new Float64Array(positions * hidden);
    for (let r = 0; r < ROWS; r++) {
      for (let p = 0; p < positions; p++) {
        let norm = 0;
        let dot = 0;
        for (let h = 0; h < hidden; h++) {
          const g = raw![(r * positions + p) * hidden + h];
          norm += g * g;
          dot += g * input[p * hidden + h];
          summed[p * hidden + h] += g;
        }
        expect(saliency![r * positions + p]).toBeCloseTo(Math.sqrt(norm), 5);
        expect(gradXInput![r * positions + p]).toBeCloseTo(dot, 5);
        // Zero from the row's own answer token on (causality), not forced: computed.
        if (p >= PROMPT + r) expect(saliency![r * positions + p]).toBe(0);
        else expect(saliency![r * positions + p]).toBeGreaterThan(0);
      }
    }
    for (let p = 0; p < positions; p++) {
      let norm = 0;
      for (let h = 0; h < hidden; h++) norm += summed[p * hidden + h] ** 2;
      expect(tokenRun.sequence.saliency![p]).toBeCloseTo(Math.sqrt(norm), 5);
    }
  });

  it('token targets equal the unmodified model’s log-probabilities', async () => {
    const reference = await referenceLogProbs(path, IDS);
    tokenRun.targetLogProbs.forEach((value, t) => expect(value).toBeCloseTo(reference[PROMPT + t - 1][IDS[PROMPT + t]], 3));
  });

  it('the sequence target is the sum of the token rows', async () => {
    const sequence = await computeGradients({ program, ids: IDS, promptLength: PROMPT, target: 'sequence', methods: ['gradient'] });
    expect(sequence.rows).toBe(1);
    const size = IDS.length * tokenRun.hidden;
    for (let i = 0; i < size; i += 7) {
      let sum = 0;
      for (let r = 0; r < ROWS; r++) sum += tokenRun.raw![r * size + i];
      expect(sequence.raw![i]).toBeCloseTo(sum, 6);
    }
  });

  it('contrastive targets are log p(target) − log p(foil)', async () => {
    const foils = [29871, 29889, 13, 2];
    const run = await computeGradients({ program, ids: IDS, promptLength: PROMPT, target: 'contrastive', foilIds: foils, methods: ['saliency'] });
    const reference = await referenceLogProbs(path, IDS);
    run.targetLogProbs.forEach((value, t) => {
      const row = reference[PROMPT + t - 1];
      expect(value).toBeCloseTo(row[IDS[PROMPT + t]] - row[foils[t]], 3);
    });
  });

  it('chunking rows over several runs gives the same rows', async () => {
    const chunked = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['gradient'], rowsPerRun: 3 });
    expect(Array.from(chunked.raw!)).toEqual(Array.from(tokenRun.raw!));
  });

  it('forward and reverse passes split in two (rows) equal the combined derivative graph', async () => {
    const input = Float64Array.from(embed(program.split.table, program.hiddenSize, IDS));
    const identity = new Float64Array(ROWS * ROWS);
    for (let r = 0; r < ROWS; r++) identity[r * ROWS + r] = 1;
    const run = { embeddings: input, batch: 1, ids: IDS, positions: IDS.slice(PROMPT).map((_, t) => PROMPT + t - 1), targetIds: IDS.slice(PROMPT), cotangent: identity, rows: ROWS };
    const combined = await program.run(run);
    const chunks = [{ cotangent: identity.slice(0, 3 * ROWS), rows: 3 }, { cotangent: identity.slice(3 * ROWS), rows: ROWS - 3 }];
    const split = await program.runRows(run, chunks);
    const joined = [...split.gradients[0], ...split.gradients[1]];
    expect(joined.length).toBe(combined.gradient.length);
    let scale = 0;
    joined.forEach((value, i) => {
      scale = Math.max(scale, Math.abs(combined.gradient[i]));
      expect(Math.abs(value - combined.gradient[i])).toBeLessThan(1e-12);
    });
    expect(scale).toBeGreaterThan(1e-3);
    expect(Array.from(split.logProbs)).toEqual(Array.from(combined.logProbs));
  });

  it('a compact program drops the prepared graph after a build and reads it again for a new shape', async () => {
    const compact = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE, compact: true });
    try {
      const first = await computeGradients({ program: compact, ids: IDS, promptLength: PROMPT, methods: ['gradient'] });
      expect(Array.from(first.raw!)).toEqual(Array.from(tokenRun.raw!));
      expect(() => compact.split.model).toThrow(/released/);
      // Another sequence length needs another derivative graph: the model is read and prepared again.
      const shorter = await computeGradients({ program: compact, ids: IDS.slice(0, 8), promptLength: PROMPT, methods: ['saliency'] });
      const reference = await computeGradients({ program, ids: IDS.slice(0, 8), promptLength: PROMPT, methods: ['saliency'] });
      expect(Array.from(shorter.saliency!)).toEqual(Array.from(reference.saliency!));
    } finally {
      await compact.release();
    }
  });

  it('a compact program with a cache folder opens from the cached table alone the second time', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'llm-explainer-compact-'));
    try {
      const results: number[][] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        const compact = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE, compact: true, cacheDir });
        // The second program has no graph until one must be built (here none: the derivative graphs are cached).
        if (attempt === 1) expect(() => compact.split.model).toThrow(/released/);
        const run = await computeGradients({ program: compact, ids: IDS, promptLength: PROMPT, methods: ['gradient'] });
        results.push(Array.from(run.raw!));
        await compact.release();
      }
      expect(results[1]).toEqual(results[0]);
      expect(results[0]).toEqual(Array.from(tokenRun.raw!));
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  it('a model file rewritten in place gets a new shared program', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'llm-explainer-reexport-'));
    try {
      const file = join(folder, 'model.onnx');
      await copyFile(path, file);
      const first = await openGradientProgram(file);
      expect(await openGradientProgram(file)).toBe(first);
      const later = new Date(Date.now() + 5000);
      await utimes(file, later, later);
      const second = await openGradientProgram(file);
      // Identity, not `.not.toBe`: on distinct objects vitest deep-compares them (two whole models: minutes).
      expect(second === first).toBe(false);
      // The new program reads the rewritten file: its embedding rows are the same model's.
      expect(Array.from(second.embedIds(IDS.slice(0, 2)))).toEqual(Array.from(first.embedIds(IDS.slice(0, 2))));
    } finally {
      await releaseGradientPrograms();
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('gradients with respect to weights (MatMul, Mul, Gather) match finite differences', async () => {
    for (const [fixture, weights] of [
      ['llama', ['model.layers.0.mlp.up_proj.weight', 'model.norm.weight']],
      ['gpt2', ['transformer.wpe.weight', 'transformer.h.0.mlp.c_fc.weight']],
    ] as const) {
      const model = `${await fixtureFolder(fixture)}/onnx/model.onnx`;
      const weighted = await GradientProgram.open({ model, floatType: DataType.DOUBLE });
      try {
        const ids = IDS.slice(0, 8);
        const input = Float64Array.from(embed(weighted.split.table, weighted.hiddenSize, ids));
        const run = { embeddings: input, batch: 1, ids, positions: [5, 6], targetIds: [ids[6], ids[7]], cotangent: Float64Array.of(1, 1), rows: 1 };
        const exact = await weighted.run({ ...run, weights: [...weights] });
        const head = weighted.headModel(false);
        for (const name of weights) {
          const tensor = head.graph!.initializer.find((t) => t.name === name)!;
          const values = new Float64Array(tensor.rawData.slice().buffer);
          const grad = exact.weightGradients[name];
          expect(grad.length).toBe(values.length);
          // Directional derivative along a fixed ±1 direction: Σ grad·d against a central difference.
          const direction = values.map((_, i) => ((i * 7919) % 3 === 0 ? -1 : 1));
          const objective = async (epsilon: number) => {
            const moved = makeTensor(name, values.map((v, i) => v + epsilon * direction[i]), tensor.dims.map(Number));
            const variant = withGraph(head, { initializer: head.graph!.initializer.map((t) => (t.name === name ? moved : t)) });
            // 'basic': the 'all' level fuses x·sigmoid(x) into QuickGelu, which has no float64 kernel.
            const session = await createSession(encodeModel(variant), 'cpu', { graphOptimizationLevel: 'basic' });
            try {
              const out = await session.run(weighted.feeds(variant, run), [TARGET_OUTPUT]);
              return (out[TARGET_OUTPUT].data as Float64Array).reduce((a, v) => a + v, 0);
            } finally {
              await session.release();
            }
          };
          const step = 1e-6;
          const numeric = ((await objective(step)) - (await objective(-step))) / (2 * step);
          const analytic = Array.from(grad).reduce((a, g, i) => a + g * direction[i], 0);
          expect(Math.abs(analytic)).toBeGreaterThan(1e-3);
          expect(Math.abs(numeric - analytic)).toBeLessThan(1e-6 * Math.max(1, Math.abs(analytic)));
        }
      } finally {
        await weighted.release();
      }
    }
  });
});
