// Batch with an interruption and resume, rerun on a second fixture model, and aggregation numbers checked
// against a naive recomputation from the stored tensors — real pipeline, real SQLite, real onnxruntime.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import type { RunStore } from '../../../main/store';
import {
  aggregateExperiment,
  experimentTimeline,
  readDataset,
  runSegments,
  summarizeRuns,
  type BatchSettings,
  type DatasetItem,
} from '../../../main/experiments';
import type { QueueResult } from '../../../main/cli/batch-follow';
import { openCliDoor } from './cli-door';
import type { AttributionMethod } from '../../../shared/experiment-math';
import type { RunJson } from '../../../shared/run';

const datasetPath = fileURLToPath(new URL('../../fixtures/datasets/support.jsonl', import.meta.url));
const EXPERIMENT = 'support';

let dir: string;
let store: RunStore;
let items: DatasetItem[];
let interrupted: QueueResult;
let resumed: QueueResult;
let rerun: QueueResult;
let rerunExperimentName: string;
let settings: BatchSettings;
let door: ReturnType<typeof openCliDoor>;
let datasetText: string;

// The CLI's door (batch and rerun through the in-process service); a subset of items is the file with the
// other items' lines blanked (line numbers, and so keys and reported lines, stay).
const context = () => ({});
const runBatch = (subset: readonly DatasetItem[], options: Parameters<typeof door.runBatch>[1]) =>
  door.runBatch(datasetText.split('\n').map((line, index) => (subset.some((item) => item.line === index + 1) ? line : '')).join('\n'), options);
const rerunExperiment = (experiment: string, options: { modelPath: string; to?: string }) => door.rerunExperiment(experiment, options);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'experiments-test-'));
  door = openCliDoor(dir);
  store = door.store;
  items = await readDataset(datasetPath);
  datasetText = readFileSync(datasetPath, 'utf8');
  settings = {
    modelPath: await fixtureFolder('llama'),
    generation: { maxNewTokens: 3 },
    methods: ['attention', 'saliency', 'grad_x_input', 'integrated_gradients'],
    options: { igSteps: 4 },
    device: 'cpu',
    tags: ['suite'],
  };
  // Interrupt while the third item computes attention: its run is stored as cancelled.
  const abort = new AbortController();
  interrupted = await runBatch(items, {
    ...context(),
    signal: abort.signal,
    experiment: EXPERIMENT,
    settings,
    onProgress: (p) => {
      if (p.done === 2 && p.stage === 'attention') abort.abort();
    },
  });
  resumed = await runBatch(items, { ...context(), experiment: EXPERIMENT, settings });
  rerun = await rerunExperiment(EXPERIMENT, { ...context(), modelPath: await fixtureFolder('gpt2') });
  rerunExperimentName = rerun.experiment;
}, 240_000);

afterAll(async () => {
  await door?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('batch', () => {
  it('stops cleanly when interrupted and resumes without redoing finished items', () => {
    expect(interrupted.cancelled).toBe(true);
    expect(interrupted.completed.map((c) => c.key)).toEqual(['hours', 'capital']);
    expect(resumed.cancelled).toBe(false);
    expect(resumed.skipped).toEqual(interrupted.completed);
    expect(resumed.completed.map((c) => c.key)).toEqual([items[2].key, '4']);
    expect(resumed.failed).toEqual([]);
    expect([...interrupted.warnings, ...resumed.warnings]).toEqual([]);

    const runs = store.runsOfExperiment(EXPERIMENT);
    const done = runs.filter((run) => run.status === 'done');
    expect(done).toHaveLength(4);
    const keys = done.map((run) => run.tags.find((tag) => tag.startsWith('item:')));
    expect(new Set(keys)).toEqual(new Set(items.map((item) => `item:${item.key}`)));
    // The item cancelled by the interruption was run again on resume, replacing its cancelled run: one run per item.
    expect(runs.filter((run) => run.status === 'cancelled')).toHaveLength(0);
    expect(runs).toHaveLength(4);
    expect(done.every((run) => run.tags.includes('suite'))).toBe(true);
  });

  it('teacher-forces expected answers and stores marked segments', () => {
    const hours = store.getRun(resumed.skipped.find((s) => s.key === 'hours')!.runId)!;
    expect(hours.generation.supplied).toBe(true);
    expect(hours.answerText).toBe('9 to 5');
    const capital = store.getRun(resumed.skipped.find((s) => s.key === 'capital')!.runId)!;
    expect(capital.generation.supplied).toBe(false);
    expect(capital.input.prompt).toBe('The capital of France is');
    const country = runSegments(store, capital).find((s) => s.name === 'country')!;
    expect(country.kind).toBe('marked');
    expect(textOf(capital, country.ranges).trim()).toBe('France');
    const data = runSegments(store, hours).find((s) => s.name === 'data')!;
    expect(textOf(hours, data.ranges).replace(/\s+/g, '')).toContain('Supportisopen9to5');
  });

  it('records a failing item with its line and retries it on resume', async () => {
    const failing = { ...settings, methods: ['saliency'], options: { target: 'contrastive' as const, foilIds: [5, 6] } };
    const subset = [items[0]]; // "9 to 5" is more than two tokens: the two-token foil cannot match it
    const first = await runBatch(subset, { ...context(), experiment: 'failing', settings: failing });
    expect(first.failed).toHaveLength(1);
    expect(first.failed[0]).toMatchObject({ key: 'hours', line: 1 });
    expect(first.failed[0].error).toMatch(/foil/);
    expect(store.getRun(first.failed[0].runId!)).toMatchObject({ status: 'failed' });
    const again = await runBatch(subset, { ...context(), experiment: 'failing', settings: failing });
    expect(again.failed).toHaveLength(1);
    expect(again.failed[0].runId).not.toBe(first.failed[0].runId);
  }, 60_000);
});

describe('rerun', () => {
  it('re-runs every run of the experiment on the other model, linked, answers kept', () => {
    expect(rerunExperimentName).toBe(`${EXPERIMENT}@${store.runsOfExperiment(rerunExperimentName)[0].model.name}`);
    expect(rerun.completed).toHaveLength(4);
    for (const { key, runId } of rerun.completed) {
      const source = store.getRun(key)!;
      const copy = store.getRun(runId)!;
      expect(copy.sourceRunId).toBe(source.id);
      expect(copy.model.architecture).toBe('gpt2');
      expect(copy.answerText.trim()).toBe(source.answerText.trim());
      expect(copy.input).toEqual(source.input);
      expect(copy.methods).toEqual(source.methods);
      expect(copy.integratedGradients?.steps).toBe(4);
      expect(store.rerunsOf(source.id).map((r) => r.id)).toEqual([runId]);
    }
    const capital = store.getRun(rerun.completed.find((c) => store.getRun(c.key)!.tags.includes('item:capital'))!.runId)!;
    const country = runSegments(store, capital).find((s) => s.name === 'country')!;
    expect(textOf(capital, country.ranges).trim()).toBe('France');
  });

  it('skips runs already re-run into the target experiment', async () => {
    const again = await rerunExperiment(EXPERIMENT, { ...context(), modelPath: await fixtureFolder('gpt2') });
    expect(again.completed).toEqual([]);
    expect(again.skipped.map((s) => s.runId)).toEqual(rerun.completed.map((c) => c.runId));
  });
});

describe('aggregation', () => {
  const METHODS: AttributionMethod[] = ['integrated_gradients', 'grad_x_input', 'saliency', 'attention.input', 'attention.rollout', 'attention.mean'];

  it.each([['llama', EXPERIMENT], ['gpt2', '']])('matches a naive recomputation over the stored %s runs', (_model, name) => {
    const experiment = name || rerunExperimentName;
    const aggregate = aggregateExperiment(store, experiment, { segment: 'data', topTokens: 50 });
    const runs = store.runsOfExperiment(experiment).filter((run) => run.status === 'done');
    expect(aggregate.runIds).toEqual(runs.map((run) => run.id));
    expect(aggregate.segments).toEqual(expect.arrayContaining(['system', 'user', 'data', 'question', 'template', 'country', 'place', 'verb']));

    // Per-head entropy, recomputed from the float16 attention probabilities (rows = answer rows).
    const [layers, heads] = store.readTensor(runs[0].id, 'attention.data')!.shape;
    for (let layer = 0; layer < layers; layer++) {
      for (let head = 0; head < heads; head++) {
        const perRun = runs.map((run) => naiveHead(run, layer, head));
        const entropy = perRun.reduce((s, v) => s + v.entropy, 0) / runs.length;
        expect(aggregate.heads.entropy![layer][head].mean).toBeCloseTo(entropy, 2);
        expect(aggregate.heads.entropy![layer][head].runIds).toEqual(runs.map((run) => run.id));
        // Attention to the data segment: only runs whose prompt has [DATA] markers count.
        const withData = perRun.filter((v) => v.data !== undefined);
        expect(withData).toHaveLength(2);
        const cell = aggregate.heads.segment![layer][head];
        expect(cell.runIds).toEqual(runs.filter((_, i) => perRun[i].data !== undefined).map((run) => run.id));
        expect(cell.mean).toBeCloseTo(withData.reduce((s, v) => s + v.data!, 0) / 2, 6);
        const first = perRun.reduce((s, v) => s + v.firstToken, 0) / runs.length;
        expect(aggregate.heads.firstToken![layer][head].mean).toBeCloseTo(first, 2);
      }
    }

    for (const method of METHODS) {
      const masses = runs.map((run) => naiveMass(run, method));
      for (const segment of aggregate.segments) {
        const shares: { runId: string; share: number }[] = [];
        runs.forEach((run, i) => {
          const found = runSegments(store, run).find((s) => s.name === segment);
          if (!found) return;
          const inside = new Set(found.ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k)));
          const total = masses[i].reduce((s, v) => s + v, 0);
          shares.push({ runId: run.id, share: masses[i].reduce((s, v, p) => s + (inside.has(p) ? v : 0), 0) / total });
        });
        const cell = aggregate.segmentShares[method]![segment];
        expect(cell.runIds).toEqual(shares.map((s) => s.runId));
        expect(cell.mean).toBeCloseTo(shares.reduce((s, v) => s + v.share, 0) / shares.length, 9);
      }
      // Top tokens: shares per run by trimmed text, averaged over all runs.
      const totals = new Map<string, number>();
      runs.forEach((run, i) => {
        const total = masses[i].reduce((s, v) => s + v, 0);
        masses[i].forEach((v, p) => {
          const text = run.tokens.text[p].trim();
          if (text) totals.set(text, (totals.get(text) ?? 0) + v / total / runs.length);
        });
      });
      const best = [...totals.entries()].sort((a, b) => b[1] - a[1])[0];
      const top = aggregate.topTokens[method]!;
      expect(top[0].text).toBe(best[0]);
      expect(top[0].meanShare).toBeCloseTo(best[1], 9);
      for (const token of top) expect(token.meanShare).toBeCloseTo(totals.get(token.text)!, 9);
      // Top words: the stored word starts (the tokenizer's own boundaries) group the prompt; a word's share is
      // its tokens' shares summed, keyed by trimmed word text, averaged over all runs.
      const wordTotals = new Map<string, number>();
      runs.forEach((run, i) => {
        const total = masses[i].reduce((s, v) => s + v, 0);
        const starts = run.tokens.wordStarts!;
        let text = '';
        let share = 0;
        const flush = () => {
          if (text.trim()) wordTotals.set(text.trim(), (wordTotals.get(text.trim()) ?? 0) + share / runs.length);
        };
        for (let p = 0; p < run.promptLength; p++) {
          if (p > 0 && starts[p]) {
            flush();
            text = '';
            share = 0;
          }
          text += run.tokens.text[p];
          share += masses[i][p] / total;
        }
        flush();
      });
      const words = aggregate.topWords![method]!;
      expect(words.length).toBeGreaterThan(0);
      expect(words[0].meanShare).toBeCloseTo(Math.max(...wordTotals.values()), 9);
      for (const word of words) expect(word.meanShare).toBeCloseTo(wordTotals.get(word.text)!, 9);
      // Some words of these prompts really are several tokens.
      expect(runs.some((run) => run.tokens.wordStarts!.slice(1, run.promptLength).includes(false))).toBe(true);
    }
  });

  it('gives per-run summary numbers and timelines', () => {
    const pairs = rerun.completed.map((c) => [c.key, c.runId]);
    const numbers = summarizeRuns(store, pairs.flat(), { topK: 3 });
    for (let i = 0; i < pairs.length; i++) {
      const [original, copy] = [numbers[2 * i], numbers[2 * i + 1]];
      expect(original.referenceRunId).toBeUndefined();
      expect(copy.referenceRunId).toBe(original.runId);
      expect(copy.answerChanged).toBe(false);
      const run = store.getRun(copy.runId)!;
      expect(copy.answerLogProb).toBeCloseTo(run.gradient!.targetValues!.reduce((s, v) => s + v, 0), 9);
      expect(copy.igCompletenessError).toBe(run.integratedGradients!.completenessError);
      expect(copy.method).toBe('integrated_gradients');
      const mass = naiveMass(run, 'integrated_gradients');
      const total = mass.reduce((s, v) => s + v, 0);
      const best = mass.indexOf(Math.max(...mass));
      expect(copy.topTokens[0]).toEqual({ position: best, text: run.tokens.text[best], share: expect.closeTo(mass[best] / total, 9) });
      const entropy = run.attention!.headStats!.entropy.flat();
      expect(copy.meanEntropy).toBeCloseTo(entropy.reduce((s, v) => s + v, 0) / entropy.length, 9);
    }
    const attentionOnly = summarizeRuns(store, [store.runsOfExperiment(EXPERIMENT)[0].id], { method: 'attention.input' })[0];
    expect(attentionOnly.method).toBe('attention.input');

    const timeline = experimentTimeline(store, rerunExperimentName, 'share:integrated_gradients:data');
    expect(timeline.points.map((p) => p.runId)).toEqual(rerun.completed.map((c) => c.runId));
    const aggregate = aggregateExperiment(store, rerunExperimentName);
    for (const point of timeline.points) {
      const perRun = aggregate.segmentShares.integrated_gradients!.data.perRun.find((p) => p.runId === point.runId);
      expect(point.value).toBe(perRun?.share ?? null);
    }
    expect(experimentTimeline(store, rerunExperimentName, 'answerChanged').points.map((p) => p.value)).toEqual([0, 0, 0, 0]);
    expect(() => experimentTimeline(store, EXPERIMENT, 'speed')).toThrow(/unknown metric "speed"/);
  });
});

function textOf(run: RunJson, ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([a, b]) => run.tokens.text.slice(a, b).join('')).join('|');
}

/** Entropy, first-token share and attention to the data segment of one head, from the stored probabilities. */
function naiveHead(run: RunJson, layer: number, head: number): { entropy: number; firstToken: number; data?: number } {
  const tensor = store.readTensor(run.id, 'attention.data')!;
  const [, heads, rows, cols] = tensor.shape;
  const positions = run.attention!.rowPositions!;
  const data = runSegments(store, run).find((s) => s.name === 'data');
  let entropy = 0;
  let firstToken = 0;
  let onData = 0;
  let answerRows = 0;
  for (let row = 0; row < rows; row++) {
    const base = ((layer * heads + head) * rows + row) * cols;
    for (let col = 0; col < cols; col++) {
      const p = tensor.data[base + col];
      if (p > 0) entropy -= p * Math.log(p);
    }
    firstToken += tensor.data[base];
    if (positions[row] < run.promptLength - 1) continue;
    answerRows++;
    for (const [a, b] of data?.ranges ?? []) for (let col = a; col < b; col++) onData += tensor.data[base + col];
  }
  return { entropy: entropy / rows, firstToken: firstToken / rows, data: data ? onData / answerRows : undefined };
}

/** A method's attribution mass per prompt position, straight from the stored tensors. */
function naiveMass(run: RunJson, method: AttributionMethod): number[] {
  const tensorName = {
    integrated_gradients: 'integratedGradients.attributions',
    grad_x_input: 'gradient.gradXInput',
    saliency: 'gradient.saliency',
    'attention.input': 'attention.input',
    'attention.rollout': 'attention.rollout',
    'attention.mean': 'attention.mean',
    occlusion: 'occlusion.perToken',
    attention_norm: 'attentionNorm.mean',
    value_zeroing: 'valueZeroing.mean',
  }[method];
  const tensor = store.readTensor(run.id, tensorName)!;
  const cols = tensor.shape[tensor.shape.length - 1];
  const rows = tensor.shape.length === 2 ? tensor.shape[0] : 1;
  const mass = new Array(run.promptLength).fill(0);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < run.promptLength; col++) mass[col] += Math.abs(tensor.data[row * cols + col]);
  }
  return mass;
}
