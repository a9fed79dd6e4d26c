// Batches in the store (migration 3): written as the service queues them, item stages as they change, and read
// back after the process that ran them ended, each unfinished item shown as its run ended. Real SQLite files.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchInfo } from '../../../shared/api';
import { openRunReader, type RunStore } from '../../../main/store/run-store';
import { sampleRun, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let store: RunStore;

beforeEach(() => {
  temp = tempStore();
  store = temp.store;
});

afterEach(() => {
  temp.dispose();
});

function batchOf(runIds: (string | undefined)[], stages: BatchInfo['items'][number]['stage'][]): BatchInfo {
  return {
    batchId: `b_${Math.random().toString(36).slice(2)}`,
    kind: 'dataset',
    experiment: 'faq',
    modelPath: '/models/tiny',
    total: runIds.length,
    finished: 0,
    failed: 0,
    skipped: 0,
    items: runIds.map((runId, index) => ({ key: `item-${index}`, line: index + 1, ...(runId ? { runId } : {}), stage: stages[index] })),
    warnings: [],
    startedAt: new Date(Date.UTC(2026, 11, 2, 9, index())).toISOString(),
  };
}
let minute = 0;
const index = () => minute++;

describe('batch records', () => {
  it('round-trips a batch with its item stages, errors and warnings, newest first in the list', () => {
    const done = store.createRun(sampleRun({ experiment: 'faq' }));
    store.completeRun(done, {});
    const first = batchOf([done, undefined], ['queued', 'skipped']);
    const second = batchOf([done], ['queued']);
    store.saveBatch(first);
    store.saveBatch(second);
    store.updateBatchItem(first.batchId, 0, { stage: 'done' });
    store.updateBatchWarnings(first.batchId, ['item-0: segment "x" text "y" was not found']);
    expect(store.getBatch(first.batchId)).toEqual({
      ...first,
      items: [{ key: 'item-0', line: 1, runId: done, stage: 'done' }, { key: 'item-1', line: 2, stage: 'skipped' }],
      finished: 2,
      skipped: 1,
      warnings: ['item-0: segment "x" text "y" was not found'],
    });
    expect(store.recentBatches(10).map((batch) => batch.batchId)).toEqual([second.batchId, first.batchId]);
    expect(store.getBatch('b_missing')).toBeUndefined();
  });

  it('reads items left unfinished by an ended process as their runs ended', () => {
    const failed = store.createRun(sampleRun());
    store.failRun(failed, 'boom', 'failed');
    const cancelled = store.createRun(sampleRun());
    store.failRun(cancelled, 'stopped', 'cancelled');
    const running = store.createRun(sampleRun());
    const batch = batchOf([failed, cancelled, running, 'r_never_started'], ['gradients', 'queued', 'attention', 'queued']);
    store.saveBatch(batch);
    // Another handle, as a restarted app opens the file: the running run's owner (this process) is alive, so
    // that item keeps its last stage.
    const reader = openRunReader(temp.path);
    try {
      const read = reader.getBatch(batch.batchId)!;
      expect(read.items.map((item) => [item.stage, item.error])).toEqual([
        ['failed', undefined],
        ['cancelled', undefined],
        ['attention', undefined],
        ['cancelled', 'not run: the app stopped before this item'],
      ]);
      expect(read).toMatchObject({ total: 4, finished: 3, failed: 1 });
    } finally {
      reader.close();
    }
  });
});
