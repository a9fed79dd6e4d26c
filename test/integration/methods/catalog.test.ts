// Every method of the catalog (shared/method-catalog), driven from the table: one real run of all methods on the
// llama fixture through the real pipeline (onnxruntime sessions) into a real SQLite file, read back through a
// fresh reader. For each catalog output: stored with the catalog's axes, a shape that matches the run, finite
// values, exact zeros where causality says a position cannot matter, and the stored values equal to the run
// JSON's full-precision ones within the encoding's bound. For each attribution: present, with token values and
// prompt mass. A method added to the catalog is covered here without a new line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTRIBUTION_CATALOG, METHOD_CATALOG, METHOD_IDS, type AttributionEntry, type AttributionId, type MethodOutput } from '../../../shared/method-catalog';
import { EXPLAIN_OPTION_SPECS, DEFAULT_EXPLAIN_OPTIONS } from '../../../shared/explain-options';
import { tokenValues, VIEW_METHODS } from '../../../shared/token-values';
import type { RunJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { runExplanation } from '../../../main/service/pipeline';
import { releaseGradientPrograms } from '../../../main/engine/gradients/compute';
import { openRunReader, openRunStore } from '../../../main/store/run-store';
import type { RunReader } from '../../../main/store/run-reader';
import { promptMass } from '../../../main/experiments/attributions';
import { FLOAT16_RELATIVE_ERROR } from '../../../shared/tensor';
import { allHeadStatistics, storedHeadStatistics } from '../../../renderer/src/explain/head-stats';
import { fixtureFolder } from '../../fixtures/models';
import { LLAMA_FIXTURE_SPEC } from '../../fixtures/recipes';

// A prompt of 5 tokens and a supplied answer of 4: no generation, the same ids every time.
const INPUT_IDS = [1, 450, 4996, 17354, 1701];
const ANSWER_IDS = [29916, 432, 17204, 975];
const T = INPUT_IDS.length + ANSWER_IDS.length;
const PROMPT = INPUT_IDS.length;

let dir: string;
let run: RunJson;
let reader: RunReader;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'catalog-'));
  const databasePath = join(dir, 'runs.db');
  const store = openRunStore(databasePath);
  try {
    const result = await runExplanation(
      {
        modelPath: await fixtureFolder('llama'),
        task: 'completion',
        inputIds: INPUT_IDS,
        answerIds: ANSWER_IDS,
        generation: { maxNewTokens: 0 },
        methods: [...METHOD_IDS],
        options: { igSteps: 8 },
        device: 'cpu',
      },
      { store, cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo') },
    );
    run = result.run;
  } finally {
    store.close();
  }
  // Read back through a new handle on the file: what was stored, not what is cached in memory.
  reader = openRunReader(databasePath);
}, 240_000);

afterAll(async () => {
  reader?.close();
  await releaseGradientPrograms();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The length each named axis must have in this run. */
function axisLength(axis: string): number {
  const lengths: Record<string, number> = {
    layer: LLAMA_FIXTURE_SPEC.numLayers,
    head: LLAMA_FIXTURE_SPEC.numHeads,
    row: ANSWER_IDS.length,
    col: T,
    hidden: LLAMA_FIXTURE_SPEC.hiddenSize,
    // The logit lens reads the residual stream before block 0 and after each block.
    depth: LLAMA_FIXTURE_SPEC.numLayers + 1,
  };
  if (!(axis in lengths)) throw new Error(`the catalog names an axis "${axis}" this test does not know`);
  return lengths[axis];
}

/** A dotted path into the run JSON. */
function jsonAt(path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], run);
}

/**
 * Positions at or after which a value must be exactly zero: row r explains answer token r (position
 * PROMPT + r) and no position from there on can influence it; a [col] vector explains the whole answer, which
 * the last position cannot influence.
 */
function firstZeroColumn(axes: readonly string[], index: number[]): number {
  const row = axes.indexOf('row');
  return row >= 0 ? PROMPT + index[row] : T - 1;
}

/** Calls `visit` with each element's multi-index and value. */
function forEachElement(tensor: NamedTensor, visit: (index: number[], value: number) => void): void {
  const { shape, data } = tensor;
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < data.length; flat++) {
    visit(index, data[flat]);
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
}

const OUTPUTS: [string, MethodOutput][] = METHOD_CATALOG.flatMap((entry) => entry.outputs.map((output): [string, MethodOutput] => [entry.id, output]));

describe('the method catalog', () => {
  it('names every option a method reads in the option table or the composite options', () => {
    const known = new Set<string>([...EXPLAIN_OPTION_SPECS.map((spec) => spec.key), 'attentionManual', 'foilIds']);
    for (const entry of METHOD_CATALOG) for (const option of entry.options) expect(known.has(option), `${entry.id}: ${option}`).toBe(true);
    for (const spec of EXPLAIN_OPTION_SPECS) expect(spec.key in DEFAULT_EXPLAIN_OPTIONS || spec.key === 'foil' || spec.key === 'igSpacing' || spec.key === 'logitLensManual', spec.key).toBe(true);
  });

  it('stores the run with every catalog method', () => {
    expect(run.status).toBe('done');
    expect(reader.getRun(run.id)!.methods).toEqual([...METHOD_IDS]);
  });

  it.each(OUTPUTS)('%s writes %o with the catalog axes, the run shape, finite values and causal zeros', (_method, output) => {
    const tensor = reader.readTensor(run.id, output.tensor);
    expect(tensor, output.tensor).toBeDefined();
    expect(tensor!.axes).toEqual(output.axes);
    expect(tensor!.shape).toEqual(output.axes.map(axisLength));
    expect(tensor!.encoding).toBe(output.encoding);
    const col = output.axes.indexOf('col');
    let nonZero = 0;
    forEachElement(tensor!, (index, value) => {
      expect(Number.isFinite(value), `${output.tensor}[${index.join(', ')}]`).toBe(true);
      if (index[col] >= firstZeroColumn(output.axes, index)) expect(value, `${output.tensor}[${index.join(', ')}] is past the target`).toBe(0);
      else if (value !== 0) nonZero++;
    });
    // Zeros everywhere would pass the causal check trivially.
    expect(nonZero).toBeGreaterThan(0);
  });

  it.each(OUTPUTS)('%s: stored %o equals the run JSON within its encoding bound', (_method, output) => {
    const stored = reader.readTensor(run.id, output.tensor)!;
    const full = (jsonAt(output.json) as unknown[] | undefined)?.flat(Infinity) as number[] | undefined;
    expect(full, output.json).toBeDefined();
    expect(full!.length).toBe(stored.data.length);
    const relative = output.encoding === 'float16' ? FLOAT16_RELATIVE_ERROR : 2 ** -24;
    const largest = full!.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    full!.forEach((value, i) => expect(Math.abs(stored.data[i] - value), `${output.tensor}[${i}]`).toBeLessThanOrEqual(relative * Math.abs(value) + relative * largest * 1e-3 + 1e-30));
  });

  it.each(METHOD_CATALOG.map((entry): [string, (typeof METHOD_CATALOG)[number]] => [entry.id, entry]))('%s: its run JSON field comes back from the store with finite numbers', (_id, entry) => {
    const stored = reader.getRun(run.id)![entry.json];
    expect(stored, entry.json).toBeDefined();
    // JSON writes NaN and ±Infinity as null: a null among the numbers is a non-finite value that was stored.
    const numbers: unknown[] = [];
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
      else if (typeof value === 'number' || value === null) numbers.push(value);
    };
    collect(stored);
    expect(numbers.length).toBeGreaterThan(0);
    for (const value of numbers) expect(Number.isFinite(value), `${entry.json}: ${String(value)}`).toBe(true);
    // Fields without store tensors are kept whole in the run row.
    if (entry.outputs.length === 0) expect(stored).toEqual(run[entry.json]);
  });

  it.each(ATTRIBUTION_CATALOG.map((entry): [string, AttributionEntry] => [entry.id, entry]))('attribution %s: present, with prompt mass and token values', (id, entry) => {
    expect(entry.present(run)).toBe(true);
    expect(METHOD_IDS).toContain(entry.method);
    const mass = promptMass(reader, reader.getRun(run.id)!, id as AttributionId);
    expect(mass).toBeDefined();
    expect(mass!.length).toBe(PROMPT);
    for (const value of mass!) expect(Number.isFinite(value)).toBe(true);
    if (!entry.chips) return;
    expect(VIEW_METHODS).toContain(id);
    for (const focus of [0, ANSWER_IDS.length - 1, 'sequence'] as const) {
      const { values, signed } = tokenValues(run, id as (typeof VIEW_METHODS)[number], focus);
      expect(signed).toBe(entry.signed);
      expect(values).toHaveLength(T);
      // A single token's row covers the positions before it; the whole answer every position but the last.
      const covered = focus === 'sequence' || !entry.rows ? T - 1 : PROMPT + focus;
      values.forEach((value, position) => {
        if (position < covered) expect(value === null || Number.isFinite(value), `${id} @${position}`).toBe(true);
        if (position < PROMPT) expect(value, `${id} @${position}`).not.toBeNull();
      });
      if (!entry.signed) for (const value of values) if (value !== null) expect(value).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('head statistics', () => {
  it('the run view shows the stored statistics, equal to the same computation over the stored probabilities', () => {
    const stored = storedHeadStatistics(reader.getRun(run.id)!.attention!.headStats!);
    const recomputed = allHeadStatistics(run.attention!.data);
    expect(stored).toHaveLength(LLAMA_FIXTURE_SPEC.numLayers * LLAMA_FIXTURE_SPEC.numHeads);
    stored.forEach((row, index) => {
      const other = recomputed[index];
      expect([row.layer, row.head]).toEqual([other.layer, other.head]);
      for (const key of ['entropy', 'maxWeight', 'firstTokenShare', 'previousTokenShare'] as const) expect(row[key], key).toBeCloseTo(other[key], 9);
    });
  });
});

describe('--raw-gradient (options.keepRawGradient)', () => {
  it('adds the gradient method: the run lists it and stores gradient.raw', async () => {
    const store = openRunStore(join(dir, 'raw.db'));
    try {
      const { run: raw } = await runExplanation(
        {
          modelPath: await fixtureFolder('llama'),
          task: 'completion',
          inputIds: INPUT_IDS,
          answerIds: ANSWER_IDS,
          generation: { maxNewTokens: 0 },
          methods: ['saliency'],
          options: { keepRawGradient: true },
          device: 'cpu',
        },
        { store, cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo') },
      );
      expect(raw.methods).toEqual(['saliency', 'gradient']);
      const tensor = store.readTensor(raw.id, 'gradient.raw');
      expect(tensor?.shape).toEqual([ANSWER_IDS.length, T, LLAMA_FIXTURE_SPEC.hiddenSize]);
      // The raw gradient's L2 norms over the hidden axis are the saliency of the same run (an independent reduction).
      const saliency = store.readTensor(raw.id, 'gradient.saliency')!.data;
      const hidden = LLAMA_FIXTURE_SPEC.hiddenSize;
      const gradient = raw.gradient!.raw!.flat(2);
      for (let cell = 0; cell < saliency.length; cell++) {
        let sum = 0;
        for (let h = 0; h < hidden; h++) sum += gradient[cell * hidden + h] ** 2;
        expect(Math.sqrt(sum)).toBeCloseTo(saliency[cell], 5);
      }
    } finally {
      store.close();
    }
  }, 120_000);
});
