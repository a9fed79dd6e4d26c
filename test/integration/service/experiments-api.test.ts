// The experiment methods of the service with the real engine pipeline on two fixture models and a real store:
// a dataset batch through the job queue (progress per item, marked segments, resume), a rerun of the
// experiment on a second model, aggregation, summaries, timelines, comparison with token alignment, rename.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchInfo, ProgressEvent } from '../../../shared/api';
import { segmentPositions } from '../../../shared/experiment-math';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { runSegments } from '../../../main/experiments/attributions';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from './helpers';

const DATASET = [
  JSON.stringify({ id: 'hours', messages: [{ role: 'user', content: '[DATA]Support is open 9 to 5.[/DATA] When is support open?' }], answer: '9 to 5' }),
  JSON.stringify({ id: 'capital', task: 'completion', prompt: 'The capital of France is', segments: { country: 'France' } }),
].join('\n');
const SETTINGS = { generation: { maxNewTokens: 2 }, methods: ['attention', 'saliency'], device: 'cpu' as const };

let temp: TempStore;
let api: WorkbenchService;
let events: ProgressEvent[];
let llama: string;
let gpt2: string;
let batch: BatchInfo;
let resumed: BatchInfo;
let rerun: BatchInfo;

beforeAll(async () => {
  temp = tempStore();
  events = [];
  [llama, gpt2] = await Promise.all([fixtureFolder('llama'), fixtureFolder('gpt2')]);
  api = createWorkbenchService({
    store: temp.store,
    runJob: pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }),
    demoModel: async () => llama,
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
  api.onProgress((event) => events.push(event));
  batch = await api.startBatch({ experiment: 'faq', modelPath: llama, datasetText: DATASET, settings: SETTINGS });
  await api.idle();
  resumed = await api.startBatch({ experiment: 'faq', modelPath: llama, datasetText: DATASET, settings: SETTINGS });
  rerun = await api.rerun({ experiment: 'faq', modelPath: gpt2, to: 'faq', answer: 'keep' });
  await api.idle();
}, 240_000);

afterAll(async () => {
  await api?.close();
  temp?.dispose();
});

describe('startBatch and rerun', () => {
  it('queues every dataset item as a run job with batch progress, and finishes them', async () => {
    expect(batch).toMatchObject({ kind: 'dataset', experiment: 'faq', total: 2, skipped: 0 });
    expect(batch.items.map((item) => [item.key, item.stage])).toEqual([['hours', 'queued'], ['capital', 'queued']]);
    const batchEvents = events.filter((event) => event.batch?.batchId === batch.batchId);
    expect(new Set(batchEvents.map((event) => event.batch!.item))).toEqual(new Set(['hours', 'capital']));
    const finals = batchEvents.filter((event) => event.stage === 'done');
    expect(finals.map((event) => event.batch!.finished)).toEqual([1, 2]);
    const status = (await api.getBatch(batch.batchId))!;
    expect(status).toMatchObject({ finished: 2, failed: 0, warnings: [] });
    expect(status.items.every((item) => item.stage === 'done')).toBe(true);
    expect((await api.listBatches()).map((entry) => entry.batchId)).toContain(batch.batchId);
  });

  it('keeps batch progress in the store: a restarted service answers getBatch and listBatches as the first did', async () => {
    const before = await Promise.all([batch, resumed, rerun].map(async (entry) => (await api.getBatch(entry.batchId))!));
    const restarted = createWorkbenchService({
      store: temp.store,
      runJob: pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }),
      demoModel: async () => llama,
      databasePath: temp.databasePath,
      mode: 'local',
      version: 'test',
    });
    try {
      for (const status of before) expect(await restarted.getBatch(status.batchId)).toEqual(status);
      expect((await restarted.listBatches()).map((entry) => entry.batchId)).toEqual([rerun, resumed, batch].map((entry) => entry.batchId));
      expect(await restarted.getBatch('b_none')).toBeNull();
    } finally {
      await restarted.close();
    }
  });

  it('stores the marked segment of an item with its run', async () => {
    const capital = (await api.getBatch(batch.batchId))!.items.find((item) => item.key === 'capital')!;
    expect((await api.listTensors(capital.runId!)).map((info) => info.name)).toContain('segment.country');
  });

  it('skips finished items when the same dataset is started again', () => {
    expect(resumed).toMatchObject({ total: 2, skipped: 2, finished: 2 });
    expect(resumed.items.map((item) => item.runId)).toEqual(batch.items.map((item) => item.runId));
  });

  it('reruns the experiment on a second model, linked to the sources, keeping the answers', async () => {
    expect(rerun).toMatchObject({ kind: 'rerun', experiment: 'faq', total: 2 });
    const status = (await api.getBatch(rerun.batchId))!;
    expect(status.items.map((item) => item.stage)).toEqual(['done', 'done']);
    for (const item of status.items) {
      const source = (await api.getRun(item.key))!;
      const copy = (await api.getRun(item.runId!))!;
      expect(copy).toMatchObject({ sourceRunId: source.id, experiment: 'faq', model: { architecture: 'gpt2' }, status: 'done' });
      // The same words; each model's text starts with its own template's separator (gpt2's "Assistant: ").
      expect(copy.answerText.trim()).toBe(source.answerText.trim());
    }
  });

  it('rejects bad requests with one clear message', async () => {
    await expect(api.startBatch({ experiment: 'x', modelPath: llama, datasetText: '{"prompt": 3}', settings: SETTINGS })).rejects.toMatchObject({ code: 'invalid_dataset' });
    await expect(api.rerun({ modelPath: gpt2 } as never)).rejects.toThrow(/give runIds or experiment/);
    await expect(api.startBatch({ experiment: 'x', modelPath: join(temp.dir, 'missing'), datasetText: DATASET, settings: SETTINGS })).rejects.toThrow(/model folder not found/);
    expect(await api.getBatch('b_unknown')).toBeNull();
  });
});

describe('aggregation, summaries and comparison', () => {
  it('aggregates both models: per-head grids with the runs behind each cell, segment shares checked directly', async () => {
    const aggregate = await api.aggregateExperiment('faq', { segment: 'data' });
    expect(aggregate.runIds).toHaveLength(4);
    expect(aggregate.models.map((model) => model.runIds.length)).toEqual([2, 2]);
    const entropy = aggregate.heads.entropy!;
    expect(entropy.length).toBeGreaterThan(0);
    expect(entropy[0][0].runIds).toHaveLength(4);
    // Share of the "data" segment for saliency, recomputed directly: |saliency| summed over answer rows per
    // prompt position, normalised, summed over the segment's positions.
    const cell = aggregate.segmentShares.saliency!.data;
    expect(cell.perRun.length).toBe(2); // the "hours" run and its rerun have [DATA]
    for (const { runId, share } of cell.perRun) {
      const run = temp.store.getRun(runId)!;
      const tensor = temp.store.readTensor(runId, 'gradient.saliency')!;
      const [rows, cols] = tensor.shape;
      const mass = new Array<number>(run.promptLength).fill(0);
      for (let row = 0; row < rows; row++) for (let col = 0; col < run.promptLength && col < cols; col++) mass[col] += Math.abs(tensor.data[row * cols + col]);
      const total = mass.reduce((sum, value) => sum + value, 0);
      const segment = runSegments(temp.store, run).find((entry) => entry.name === 'data')!;
      const direct = segmentPositions(segment, run.promptLength).reduce((sum, position) => sum + mass[position] / total, 0);
      expect(share).toBeCloseTo(direct, 9);
      expect(share).toBeGreaterThan(0);
    }
    expect(cell.mean).toBeCloseTo((cell.perRun[0].share + cell.perRun[1].share) / 2, 12);
    expect(aggregate.topTokens.saliency!.length).toBeGreaterThan(0);
  });

  it('summarizes, and draws a timeline in run order', async () => {
    const ids = (await api.aggregateExperiment('faq')).runIds;
    const numbers = await api.summarizeRuns(ids, { method: 'saliency', topK: 3 });
    expect(numbers.map((entry) => entry.runId)).toEqual(ids);
    expect(numbers[2].answerChanged).toBe(false); // reruns keep the source's answer
    expect(numbers[0].topTokens).toHaveLength(3);
    expect(numbers[0].answerLogProb).not.toBeNull();
    const timeline = await api.experimentTimeline('faq', 'meanEntropy');
    expect(timeline.points.map((point) => point.runId)).toEqual(ids);
    expect(timeline.points.every((point) => typeof point.value === 'number')).toBe(true);
    await expect(api.experimentTimeline('faq', 'nonsense')).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('compares a run with its rerun: aligned tokens, shares that sum to 1, the difference', async () => {
    const status = (await api.getBatch(rerun.batchId))!;
    const item = status.items.find((entry) => entry.key === batch.items[1].runId)!;
    const result = await api.compareRuns([item.key, item.runId!], { method: 'saliency' });
    expect(result.method).toBe('saliency');
    expect(result.methods).toEqual(expect.arrayContaining(['saliency', 'attention.mean']));
    const [first, second] = result.runs;
    for (const run of result.runs) expect((run.shares as number[]).reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 6);
    // Every column keeps order and every matched column pairs equal texts.
    for (let r = 0; r < 2; r++) {
      const positions = result.alignment.columns.map((column) => column[r]).filter((value): value is number => value !== null);
      expect(positions).toEqual(result.runs[r].promptTokens.map((_, index) => index));
    }
    const matched = result.alignment.columns.filter((column) => column[0] !== null && column[1] !== null);
    expect(matched.length).toBe(result.alignment.matched);
    expect(matched.length).toBeGreaterThan(0);
    for (const [a, b] of matched) expect(first.promptTokens[a!].trim()).toBe(second.promptTokens[b!].trim());
    result.alignment.columns.forEach(([a, b], index) => {
      const expected = a === null || b === null ? null : (second.shares[b] as number) - (first.shares[a] as number);
      expect(result.difference![index]).toBe(expected);
    });
    expect(result.numbers[1]).toMatchObject({ referenceRunId: item.key, answerChanged: false });
  });

  it('exports a self-contained HTML report of the experiment', async () => {
    const report = await api.exportReport({ experiment: 'faq' });
    expect(report.fileName).toBe('faq-report.html');
    expect(report.html.slice(0, 100).toLowerCase()).toContain('<!doctype html');
    await expect(api.exportReport({})).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('renames an experiment, runs included', async () => {
    await expect(api.renameExperiment('faq', 'faq-2026')).resolves.toEqual({ name: 'faq-2026' });
    expect((await api.listExperiments()).map((entry) => entry.name)).toContain('faq-2026');
    expect((await api.listRuns({ experiment: 'faq-2026' })).total).toBe(4);
    await expect(api.aggregateExperiment('faq-2026')).resolves.toMatchObject({ experiment: 'faq-2026' });
  });
});
