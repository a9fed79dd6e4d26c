// Runs in a real SQLite file: round trip of the run JSON, status changes, user edits, experiments,
// deletion, and all-or-nothing writes.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunNotFoundError, StoreError, type NamedTensor } from '../../../main/store';
import type { RunJson } from '../../../shared/run';
import { pseudoRandom, sampleRun, tempStore, type TempStore } from './helpers';

let temp: TempStore;
beforeEach(() => {
  temp = tempStore();
});
afterEach(() => temp.dispose());

const attention = (shape = [2, 2, 3, 6]): NamedTensor => ({
  name: 'attention.answer',
  axes: ['layer', 'head', 'row', 'col'],
  shape,
  data: pseudoRandom(shape.reduce((a, b) => a * b), 5),
  encoding: 'float16',
});

describe('RunStore runs', () => {
  it('stores a full run and gives back the same run JSON', () => {
    const { store } = temp;
    const id = store.createRun(sampleRun({
      createdAt: '2026-11-27T10:00:00.000Z',
      experiment: 'capitals',
      tags: ['geo', 'smoke', 'geo'],
      notes: 'first try',
      sourceRunId: 'r_original',
      input: { task: 'chat', system: 'Be brief.', messages: [{ role: 'user', content: 'Capital of <b>France</b>?' }] },
      generation: { maxNewTokens: 4, temperature: 0.7, topK: 40, topP: 0.9, seed: 3, stop: ['\n'] },
    }));
    expect(id).toMatch(/^r_[0-9a-z]{15}$/);
    expect(store.getRun(id)).toMatchObject({ status: 'running', answerText: '', tokens: { ids: [] } });
    const completion = {
      model: { sha256: 'cd'.repeat(32) },
      tokens: { ids: [1, 5, 9, 2], text: ['<s>', 'Capital', ' Paris', '</s>'], role: ['prompt', 'prompt', 'answer', 'answer'] },
      promptLength: 2,
      answerText: ' Paris',
      device: { requested: 'auto', used: 'cpu', fallbackReason: 'no CUDA provider in this build' },
      timings: { load: 12.5, generate: 40 },
      methods: ['attention', 'saliency'],
      attention: { layers: 2, heads: 2, rows: 'answer', data: [[[[0.5]]]], mean: [[0.25, 0.75]], rollout: [[1]], input: [0.5, 0.5] },
      integratedGradients: { steps: 8, baseline: 'zero', rule: 'midpoint', attributions: [0.1, 0.2], delta: 0.3, completenessError: 0.001 },
    } as const;
    store.completeRun(id, { patch: completion as unknown as Partial<RunJson>, tensors: [attention()] });
    store.updateTimings(id, { store: 3 });
    const run = store.getRun(id)!;
    const expected: RunJson = {
      schema: 'llm-explainer.run/1',
      id,
      createdAt: '2026-11-27T10:00:00.000Z',
      status: 'done',
      model: { path: '/models/tiny-llama', name: 'tiny-llama', architecture: 'llama', sha256: 'cd'.repeat(32), file: 'onnx/model.onnx', dtype: 'fp32' },
      task: 'chat',
      input: { task: 'chat', system: 'Be brief.', messages: [{ role: 'user', content: 'Capital of <b>France</b>?' }] },
      device: { requested: 'auto', used: 'cpu', fallbackReason: 'no CUDA provider in this build' },
      tokens: { ids: [1, 5, 9, 2], text: ['<s>', 'Capital', ' Paris', '</s>'], role: ['prompt', 'prompt', 'answer', 'answer'] },
      promptLength: 2,
      answerText: ' Paris',
      generation: { maxNewTokens: 4, temperature: 0.7, topK: 40, topP: 0.9, seed: 3, stop: ['\n'] },
      timings: { load: 12.5, generate: 40, store: 3 },
      methods: ['attention', 'saliency'],
      experiment: 'capitals',
      tags: ['geo', 'smoke'],
      notes: 'first try',
      appVersion: '0.1.0',
      // attention.data is kept in the tensor, not in the JSON.
      attention: { layers: 2, heads: 2, rows: 'answer', data: [], mean: [[0.25, 0.75]], rollout: [[1]], input: [0.5, 0.5] },
      integratedGradients: { steps: 8, baseline: 'zero', rule: 'midpoint', attributions: [0.1, 0.2], delta: 0.3, completenessError: 0.001 },
      sourceRunId: 'r_original',
    };
    expect(run).toEqual(expected);
    expect(store.getRunSummary(id)).toEqual({
      id, createdAt: expected.createdAt, status: 'done', modelName: 'tiny-llama', modelPath: '/models/tiny-llama',
      architecture: 'llama', task: 'chat', promptExcerpt: 'Capital of <b>France</b>?', answerExcerpt: 'Paris',
      methods: ['attention', 'saliency'], experiment: 'capitals', tags: ['geo', 'smoke'],
    });
    expect(store.rerunsOf('r_original').map((r) => r.id)).toEqual([id]);
  });

  it('returns undefined for unknown ids on reads and throws RunNotFoundError on writes', () => {
    const { store } = temp;
    expect(store.getRun('r_missing')).toBeUndefined();
    expect(store.readTensor('r_missing', 'x')).toBeUndefined();
    expect(store.tensorInfo('r_missing')).toEqual([]);
    expect(() => store.completeRun('r_missing', {})).toThrow(RunNotFoundError);
    expect(() => store.failRun('r_missing', 'boom')).toThrow(RunNotFoundError);
    expect(() => store.updateRun('r_missing', { notes: 'x' })).toThrow(RunNotFoundError);
    try {
      store.updateRun('r_missing', {});
    } catch (error) {
      expect((error as StoreError).code).toBe('not_found');
    }
  });

  it('fails and cancels only running runs', () => {
    const { store } = temp;
    const failed = store.createRun(sampleRun());
    const cancelled = store.createRun(sampleRun());
    expect(store.failRun(failed, 'out of memory')).toBe(true);
    expect(store.failRun(cancelled, 'cancelled by the user', 'cancelled')).toBe(true);
    expect(store.getRun(failed)).toMatchObject({ status: 'failed', error: 'out of memory' });
    expect(store.getRun(cancelled)).toMatchObject({ status: 'cancelled', error: 'cancelled by the user' });
    // A finished run stays as it is.
    expect(store.failRun(failed, 'again', 'cancelled')).toBe(false);
    expect(store.getRun(failed)?.status).toBe('failed');
    expect(() => store.completeRun(cancelled, { patch: { answerText: 'late' } })).toThrow(/cancelled, not running/);
    expect(store.getRun(cancelled)?.answerText).toBe('');
  });

  it('edits tags, notes and experiment, and lists experiments with counts', () => {
    const { store } = temp;
    const a = store.createRun(sampleRun({ createdAt: '2026-01-01T00:00:00.000Z', tags: ['one'] }));
    const b = store.createRun(sampleRun({ createdAt: '2026-01-02T00:00:00.000Z', experiment: 'ablation' }));
    const summary = store.updateRun(a, { tags: [' two ', 'three', ''], notes: 'look at head 3', experiment: 'ablation' });
    expect(summary).toMatchObject({ id: a, tags: ['three', 'two'], experiment: 'ablation' });
    expect(store.getRun(a)).toMatchObject({ notes: 'look at head 3', tags: ['three', 'two'], experiment: 'ablation' });
    expect(store.tagRuns([a, b, 'r_missing'], { add: ['batch'], remove: ['three'] })).toBe(2);
    expect(store.getRun(a)?.tags).toEqual(['batch', 'two']);
    expect(store.getRun(b)?.tags).toEqual(['batch']);
    expect(() => store.updateRun(a, { experiment: '  ' })).toThrow(StoreError);
    expect(store.listExperiments()).toEqual([
      { name: 'ablation', runCount: 2, description: '', createdAt: '2026-01-02T00:00:00.000Z', firstRunAt: '2026-01-01T00:00:00.000Z', lastRunAt: '2026-01-02T00:00:00.000Z' },
      { name: 'default', runCount: 0, description: '', createdAt: '2026-01-01T00:00:00.000Z' },
    ]);
    store.describeExperiment('ablation', 'heads switched off one by one');
    store.renameExperiment('ablation', 'head ablation');
    expect(store.getRun(a)?.experiment).toBe('head ablation');
    expect(store.listRuns({ search: 'head ablation' }).total).toBe(2);
    expect(store.runsOfExperiment('head ablation').map((run) => run.id)).toEqual([a, b]);
    expect(store.listExperiments()[0]).toMatchObject({ name: 'head ablation', description: 'heads switched off one by one' });
    expect(() => store.renameExperiment('head ablation', 'default')).toThrow(/exists already/);
  });

  it('lists recent model folders by last use', () => {
    const { store } = temp;
    store.createRun(sampleRun({ createdAt: '2026-01-01T00:00:00.000Z', model: { path: '/m/a', name: 'a-old', architecture: 'llama', sha256: '' } }));
    store.createRun(sampleRun({ createdAt: '2026-01-03T00:00:00.000Z', model: { path: '/m/a', name: 'a', architecture: 'llama', sha256: '' } }));
    store.createRun(sampleRun({ createdAt: '2026-01-02T00:00:00.000Z', model: { path: '/m/b', name: 'b', architecture: 'gpt2', sha256: '' } }));
    expect(store.recentModelFolders()).toEqual([
      { path: '/m/a', name: 'a', lastUsedAt: '2026-01-03T00:00:00.000Z', runCount: 2 },
      { path: '/m/b', name: 'b', lastUsedAt: '2026-01-02T00:00:00.000Z', runCount: 1 },
    ]);
    expect(store.recentModelFolders(1)).toHaveLength(1);
  });

  it('deletes runs with their tags, tensors and search entries', () => {
    const { store, path } = temp;
    const keep = store.createRun(sampleRun({ tags: ['keep'] }));
    const drop = store.createRun(sampleRun({ tags: ['drop'], input: { task: 'chat', messages: [{ role: 'user', content: 'unique zebra words' }] } }));
    store.completeRun(drop, { tensors: [attention([2, 2, 64, 64])] });
    store.completeRun(keep, { tensors: [attention()] });
    expect(store.deleteRuns([drop, drop, 'r_missing'])).toBe(1);
    expect(store.getRun(drop)).toBeUndefined();
    expect(store.listRuns({ search: 'zebra' }).total).toBe(0);
    expect(store.readTensor(keep, 'attention.answer')?.shape).toEqual([2, 2, 3, 6]);
    const raw = new Database(path, { readonly: true });
    for (const table of ['run_tags', 'tensors', 'tensor_chunks']) {
      expect(raw.prepare(`SELECT count(*) FROM ${table} WHERE run_id = ?`).pluck().get(drop)).toBe(0);
    }
    expect(raw.prepare('SELECT count(*) FROM runs_search').pluck().get()).toBe(1);
    raw.close();
  });

  it('keeps everything already stored when a completion fails half-way', () => {
    const { store } = temp;
    const other = store.createRun(sampleRun({ tags: ['other'] }));
    store.completeRun(other, { patch: { answerText: 'kept' }, tensors: [attention()] });
    const id = store.createRun(sampleRun({ notes: 'before' }));
    const before = store.getRun(id);
    const good = attention();
    const bad: NamedTensor = { name: 'gradient.saliency', axes: ['row', 'col'], shape: [3, 6], data: new Float32Array(17), encoding: 'float32' };
    expect(() => store.completeRun(id, { patch: { answerText: 'lost', timings: { generate: 5 } }, tensors: [good, bad] }))
      .toThrow(/tensor gradient.saliency: data has 17 values but shape \[3, 6\] needs 18/);
    expect(store.getRun(id)).toEqual(before);
    expect(store.tensorInfo(id)).toEqual([]);
    expect(store.listRuns({ search: 'lost' }).total).toBe(0);
    expect(() => store.completeRun(id, { patch: { answerText: 'lost' }, tensors: [good, { ...good }] })).toThrow(/given twice/);
    expect(store.getRun(id)).toEqual(before);
    // A failure inside SQLite after the run row and the first tensor were written rolls back the same way.
    const raw = new Database(temp.path);
    raw.exec(`CREATE TRIGGER explode BEFORE INSERT ON tensor_chunks WHEN NEW.name = 'explode'
              BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    raw.close();
    expect(() => store.completeRun(id, { patch: { answerText: 'lost' }, tensors: [good, { ...good, name: 'explode' }] })).toThrow(/disk says no/);
    expect(store.getRun(id)).toEqual(before);
    expect(store.tensorInfo(id)).toEqual([]);
    // The other run and its tensor are untouched, and the failed run can still complete.
    expect(store.getRun(other)).toMatchObject({ status: 'done', answerText: 'kept', tags: ['other'] });
    expect(store.readTensor(other, 'attention.answer')?.data.length).toBe(72);
    store.completeRun(id, { patch: { answerText: 'now' }, tensors: [good] });
    expect(store.getRun(id)).toMatchObject({ status: 'done', answerText: 'now', notes: 'before' });
  });

  it('rejects bad arguments with invalid_argument', () => {
    const { store } = temp;
    const id = store.createRun(sampleRun());
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return (error as StoreError).code;
      }
      return undefined;
    };
    expect(code(() => store.updateRun(id, { tags: 'x' as unknown as string[] }))).toBe('invalid_argument');
    expect(code(() => store.failRun(id, 'x', 'done' as 'failed'))).toBe('invalid_argument');
    expect(code(() => store.putTensors(id, [{ ...attention(), axes: ['layer'] }]))).toBe('invalid_argument');
    expect(code(() => store.putTensors(id, [{ ...attention(), encoding: 'int4' as 'q8' }]))).toBe('invalid_argument');
    expect(code(() => store.putTensors(id, [{ ...attention(), shape: [2, 2, 3, -6] }]))).toBe('invalid_argument');
  });
});
