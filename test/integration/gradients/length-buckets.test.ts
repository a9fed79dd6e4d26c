// Length buckets (main/engine/gradients/length-buckets.ts): a run padded on the right to its bucket gives the numbers
// of a graph built for its exact shape; a new length inside a built bucket reuses the graph (nothing built, no
// session opened, no byte written to the cache); a model whose attention is not causal keeps exact lengths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, type GradientResult } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { lengthBucket, runLayout } from '../../../main/engine/gradients/length-buckets';
import { withGraph } from '../../../main/engine/gradients/graph-tools';
import { DataType, decodeModel, encodeModel } from '../../../main/engine/onnx/proto';

const METHODS = ['saliency', 'grad_x_input', 'gradient', 'integrated_gradients'] as const;
const IG = { steps: 4, baseline: 'zero' as const, rule: 'gauss-legendre' as const };
/** 13 positions (bucket 16) and 9 answer tokens (bucket 10): both axes padded. */
const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40, 50, 60, 70];
const PROMPT = 4;

let path: string;
let cacheDir: string;
let exact: GradientProgram;

beforeAll(async () => {
  path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
  cacheDir = await mkdtemp(join(tmpdir(), 'llm-explainer-buckets-'));
  exact = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE, lengthBuckets: false });
});
afterAll(async () => {
  await exact.release();
  await rm(cacheDir, { recursive: true, force: true });
});

/** Largest difference between two runs' values, relative to the largest magnitude. */
function gap(a: GradientResult, b: GradientResult): number {
  let error = 0;
  let scale = 0;
  const pairs: [ArrayLike<number> | undefined, ArrayLike<number> | undefined][] = [
    [a.raw, b.raw],
    [a.saliency, b.saliency],
    [a.gradXInput, b.gradXInput],
    [a.sequence.saliency, b.sequence.saliency],
    [a.integratedGradients?.attributions, b.integratedGradients?.attributions],
    [a.targetLogProbs, b.targetLogProbs],
  ];
  for (const [x, y] of pairs) {
    expect(x?.length).toBeGreaterThan(0);
    expect(x!.length).toBe(y!.length);
    for (let i = 0; i < x!.length; i++) {
      error = Math.max(error, Math.abs(x![i] - y![i]));
      scale = Math.max(scale, Math.abs(y![i]));
    }
  }
  return error / scale;
}

async function folderBytes(folder: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const name of await readdir(folder)) sizes.set(name, (await stat(join(folder, name))).size);
  return sizes;
}

describe('length buckets', () => {
  it('rounds lengths up to four buckets per octave, never past the model’s positions', () => {
    expect([5, 8, 9, 16, 17, 20, 21, 1000, 1024, 1025].map(lengthBucket)).toEqual([5, 8, 10, 16, 20, 20, 24, 1024, 1024, 1280]);
    for (let n = 5; n < 5000; n++) {
      const bucket = lengthBucket(n);
      expect(bucket).toBeGreaterThanOrEqual(n);
      expect(bucket).toBeLessThanOrEqual(1.25 * n);
    }
    expect(runLayout(13, 9)).toEqual({ length: 16, targets: 10 });
    expect(runLayout(3, 2)).toEqual({ length: 16, targets: 2 });
    expect(runLayout(1000, 33, 1010)).toEqual({ length: 1010, targets: 40 });
    // A limit below the length itself (the caller refuses such runs earlier) never shortens the run.
    expect(runLayout(1000, 1, 900)).toEqual({ length: 1024, targets: 1 });
  });

  it('a padded run gives the numbers of a graph built for its exact shape (float64)', async () => {
    const padded = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE, cacheDir });
    try {
      const options = { ids: IDS, promptLength: PROMPT, methods: METHODS, ig: IG };
      const a = await computeGradients({ ...options, program: padded });
      const b = await computeGradients({ ...options, program: exact });
      expect(gap(a, b)).toBeLessThan(1e-10);
      // The graphs in the cache are the bucket's (16 positions, 10 targets), not the run's 13 and 9.
      const keys = await Promise.all(
        (await readdir(join(cacheDir, 'gradients'))).filter((f) => f.endsWith('.onnx.json')).map(async (f) => JSON.parse(await readFile(join(cacheDir, 'gradients', f), 'utf8')).key as string),
      );
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(key).toMatch(/\|16\|10\|/);
    } finally {
      await padded.release();
    }
  });

  it('a new length in a built bucket builds nothing, opens no session, writes nothing and matches a fresh build', async () => {
    const program = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE, cacheDir });
    try {
      const first = await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['saliency', 'gradient'] });
      expect(first.rows).toBe(IDS.length - PROMPT);
      const before = { ...program.statistics };
      const files = await folderBytes(join(cacheDir, 'gradients'));
      // 15 positions, 10 answer tokens: another length, the same bucket (16, 10).
      const longer = [...IDS.slice(0, PROMPT), 80, ...IDS.slice(PROMPT), 90];
      const options = { ids: longer, promptLength: PROMPT + 1, methods: ['saliency', 'grad_x_input', 'gradient'] as const };
      const reused = await computeGradients({ ...options, program });
      expect(program.statistics).toEqual(before);
      expect(await folderBytes(join(cacheDir, 'gradients'))).toEqual(files);
      const fresh = await computeGradients({ ...options, program: exact });
      expect(fresh.rows).toBe(10);
      const pairs = [[reused.raw!, fresh.raw!], [reused.saliency!, fresh.saliency!], [reused.gradXInput!, fresh.gradXInput!], [reused.targetLogProbs, fresh.targetLogProbs]] as const;
      for (const [x, y] of pairs) {
        expect(x.length).toBe(y.length);
        const scale = Math.max(...Array.from(y, Math.abs));
        for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThan(1e-10 * scale);
      }
    } finally {
      await program.release();
    }
  });

  it('a model whose attention is not causal is run at its exact length, with the exact numbers', async () => {
    // The fixture with its causal mask reversed (LessOrEqual → GreaterOrEqual): each position sees itself and
    // every later one, so positions appended on the right would change every row.
    const model = decodeModel(await readFile(path));
    const graph = model.graph!;
    const masks = graph.node.filter((n) => n.opType === 'LessOrEqual');
    expect(masks.length).toBeGreaterThan(0);
    const node = graph.node.map((n) => (n.opType === 'LessOrEqual' ? { ...n, opType: 'GreaterOrEqual' } : n));
    const bytes = encodeModel(withGraph(model, { node }));
    const bucketed = await GradientProgram.open({ model: bytes, floatType: DataType.DOUBLE });
    const plain = await GradientProgram.open({ model: bytes, floatType: DataType.DOUBLE, lengthBuckets: false });
    try {
      const options = { ids: IDS, promptLength: PROMPT, methods: ['saliency', 'gradient'] as const };
      const a = await computeGradients({ ...options, program: bucketed });
      const b = await computeGradients({ ...options, program: plain });
      const scale = Math.max(...Array.from(b.raw!, Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < b.raw!.length; i++) expect(Math.abs(a.raw![i] - b.raw![i])).toBeLessThan(1e-10 * scale);
      a.targetLogProbs.forEach((v, i) => expect(v).toBeCloseTo(b.targetLogProbs[i], 10));
      // Anti-causal: early positions now matter through later ones, so the rows are not zero past their target.
      expect(b.saliency![b.positions - 1]).toBeGreaterThan(0);
    } finally {
      await bucketed.release();
      await plain.release();
    }
  });
});
