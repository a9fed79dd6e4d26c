// Shapes of long runs from short probes (probe-extrapolation.ts): every tensor's extrapolated shape and every folded
// integer equal a real probe's at a longer length; a program built from extrapolated shapes gives the numbers of
// one built from a real probe, without ever probing at the run's length; a dimension the fit does not explain is
// refused (the program then probes for real).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, type GradientResult } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { probeForDerivative, type DerivativeProbe } from '../../../main/engine/gradients/derivative-probe';
import { extrapolateShapes, probeLengths } from '../../../main/engine/gradients/probe-extrapolation';
import { MAX_FOLDED_ELEMENTS, staticCandidates, staticValuesModel } from '../../../main/engine/gradients/static-fold';
import { runOnce } from '../../../main/engine/gradients/shape-probe';
import { lengthBucket } from '../../../main/engine/gradients/length-buckets';
import { DataType } from '../../../main/engine/onnx/proto';

const exports = resolve(__dirname, '..', '..', 'fixtures', 'torch-exports');
const folders: string[] = [];
afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** `folds`: whether the graph has shape arithmetic to fold at 120 positions (the builder graphs have none). */
const cases: { name: string; model: () => Promise<string>; folds: boolean }[] = [
  { name: 'builder llama (GQA, rotary)', model: async () => `${await fixtureFolder('llama')}/onnx/model.onnx`, folds: false },
  { name: 'builder gpt2 (learned positions)', model: async () => `${await fixtureFolder('gpt2')}/onnx/model.onnx`, folds: false },
  { name: 'torch llama export (shape arithmetic, Range positions)', model: async () => join(exports, 'llama', 'onnx', 'model.onnx'), folds: true },
  { name: 'torch gemma2 export (softcapping, sliding window)', model: async () => join(exports, 'gemma2', 'onnx', 'model.onnx'), folds: true },
  { name: 'torch qwen3 dynamo export', model: async () => join(exports, 'qwen3-dynamo', 'onnx', 'model.onnx'), folds: true },
];

/** A run of `length` positions with `targets` targets at its end (what the probe needs: shapes, not values). */
function probeRun(program: GradientProgram, length: number, targets: number) {
  const ids = Array.from({ length }, (_, i) => 1 + ((i * 37) % 250));
  return { embeddings: program.embedIds(ids), batch: 1, ids, positions: ids.slice(-targets).map((_, i) => length - targets + i), targetIds: ids.slice(-targets), cotangent: new Float32Array(targets), rows: 1 };
}

describe('shapes of a long run from three short probes', () => {
  it.each(cases)('$name: every shape and folded integer equals a real probe at a longer length', async ({ model, folds }) => {
    const program = await GradientProgram.open({ model: await model() });
    try {
      const head = program.headModel(false);
      const targets = 8;
      const probe = (length: number) => probeForDerivative(head, program.feeds(head, probeRun(program, length, targets)), DataType.FLOAT, 'cpu');
      const short = [];
      for (const length of probeLengths(targets)) short.push({ length, probe: await probe(length) });
      // 120: past all three short lengths, and a length the fit never saw.
      const real = await probe(120);
      const extrapolated = extrapolateShapes(short, 120)!;
      expect(extrapolated).toBeDefined();
      expect(extrapolated.shapes.size).toBe(real.shapes.size);
      for (const [name, shape] of real.shapes) expect(extrapolated.shapes.get(name), name).toEqual(shape);
      expect([...extrapolated.causal].sort()).toEqual([...real.causal].sort());
      expect(extrapolated.allCausal).toBe(real.allCausal);
      // Folded integers, computed from the extrapolated shapes by the shape arithmetic alone.
      const folded = staticCandidates(head).filter((name) => extrapolated.shapes.get(name)!.reduce((n, d) => n * d, 1) <= MAX_FOLDED_ELEMENTS);
      const values = folded.length > 0 ? await runOnce(staticValuesModel(head, extrapolated.shapes, folded), {}, folded, 'cpu', undefined, 'disabled') : {};
      let compared = 0;
      for (const name of folded) {
        const expected = real.values.get(name)!;
        if (!(expected instanceof BigInt64Array || expected instanceof Int32Array)) continue;
        expect(Array.from(values[name].data as BigInt64Array, Number), name).toEqual(Array.from(expected, Number));
        compared++;
      }
      // Reshape targets, slice bounds, Range(T) positions: folded from the shapes alone.
      if (folds) expect(compared).toBeGreaterThan(0);
    } finally {
      await program.release();
    }
  });

  it('refuses a dimension that is not affine in the length, and attention that is causal at one length only', () => {
    const probe = (shapes: [string, number[]][], causal: string[] = ['p']): DerivativeProbe => ({
      shapes: new Map(shapes),
      values: new Map(),
      causal: new Set(causal),
      allCausal: causal.length > 0,
    });
    const affine = [48, 56, 72].map((length) => ({ length, probe: probe([['x', [1, length, 2 * length + 1]], ['w', [64, 64]]]) }));
    expect(extrapolateShapes(affine, 1000)!.shapes).toEqual(new Map([['x', [1, 1000, 2001]], ['w', [64, 64]]]));
    // min(T, 64) (a window): affine through the first two lengths, not the third.
    const windowed = [48, 56, 72].map((length) => ({ length, probe: probe([['x', [1, Math.min(length, 64)]]]) }));
    expect(extrapolateShapes(windowed, 1000)).toBeUndefined();
    // T / 16 rounded up: 3, 4, 5 at 48, 56, 72 is not on one line.
    const rounded = [48, 56, 72].map((length) => ({ length, probe: probe([['x', [Math.ceil(length / 16)]]]) }));
    expect(extrapolateShapes(rounded, 1000)).toBeUndefined();
    // A fit that would give a fraction at the target length.
    const half = [48, 56, 72].map((length) => ({ length, probe: probe([['x', [length / 2]]]) }));
    expect(extrapolateShapes(half, 1001)).toBeUndefined();
    expect(extrapolateShapes(half, 1000)!.shapes.get('x')).toEqual([500]);
    const flips = [48, 56, 72].map((length, i) => ({ length, probe: probe([['x', [length]]], i === 2 ? [] : ['p']) }));
    expect(extrapolateShapes(flips, 1000)).toBeUndefined();
  });
});

/** Largest difference between two results' values, relative to the largest magnitude. */
function gap(a: GradientResult, b: GradientResult): number {
  let error = 0;
  let scale = 0;
  const pairs = [
    [a.raw, b.raw],
    [a.gradXInput, b.gradXInput],
    [a.integratedGradients?.attributions, b.integratedGradients?.attributions],
    [a.targetLogProbs, b.targetLogProbs],
  ] as const;
  for (const [x, y] of pairs) {
    expect(x!.length).toBeGreaterThan(0);
    expect(x!.length).toBe(y!.length);
    for (let i = 0; i < x!.length; i++) {
      error = Math.max(error, Math.abs(x![i] - y![i]));
      scale = Math.max(scale, Math.abs(y![i]));
    }
  }
  expect(scale).toBeGreaterThan(0);
  return error / scale;
}

describe('a program built from extrapolated shapes', () => {
  it.each(cases.slice(0, 3))('$name: the numbers of a real probe at two lengths, never probing at them', async ({ model }) => {
    const path = await model();
    const open = (shapeProbe: 'extrapolate' | 'real') => {
      const cacheDir = mkdtempSync(join(tmpdir(), 'probe-extrapolation-'));
      folders.push(cacheDir);
      return GradientProgram.open({ model: path, floatType: DataType.DOUBLE, cacheDir, shapeProbe, extrapolateAbove: 24 });
    };
    const extrapolated = await open('extrapolate');
    const real = await open('real');
    try {
      // 43 and 75 positions (buckets 48 and 80), 6 answer rows each; IG goes through the combined graph.
      for (const length of [43, 75]) {
        const ids = Array.from({ length }, (_, i) => 1 + ((i * 53) % 250));
        const options = { ids, promptLength: length - 6, methods: ['gradient', 'grad_x_input', 'integrated_gradients'] as const, ig: { steps: 3 }, config: { maxPositions: 128 } };
        const a = await computeGradients({ ...options, program: extrapolated });
        const b = await computeGradients({ ...options, program: real });
        expect(gap(a, b)).toBeLessThan(1e-12);
        expect(real.statistics.probes).toContain(lengthBucket(length));
      }
      // Only short probes: the lengths of probeLengths(6 targets), never a run's own.
      expect(extrapolated.statistics.probes.length).toBeGreaterThan(0);
      expect(new Set(extrapolated.statistics.probes)).toEqual(new Set(probeLengths(6)));
    } finally {
      await extrapolated.release();
      await real.release();
    }
  });
});
