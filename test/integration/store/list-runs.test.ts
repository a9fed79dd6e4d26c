// The runs list on a real database: filters, substring search, sort, paging, and 10,000 runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunStore } from '../../../main/store';
import type { RunSummary, TaskType } from '../../../shared/run';
import { sampleRun, tempStore, type TempStore } from './helpers';

const MODELS = ['tiny-llama', 'tiny-gpt2', 'demo'];
const TASKS: TaskType[] = ['chat', 'completion', 'question_answering'];
const WORDS = ['apple', 'banana', 'cherry', 'damson', 'elder', 'fig', 'grape'];

/** Run i of a generated set: every field cycles with a different period, so filters cut it differently. */
function generatedRun(i: number) {
  const model = MODELS[i % 3];
  return sampleRun({
    id: `r_test${String(i).padStart(6, '0')}`,
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    model: { path: `/models/${model}`, name: model, architecture: i % 3 === 1 ? 'gpt2' : 'llama', sha256: '' },
    task: TASKS[i % TASKS.length],
    experiment: `exp-${i % 4}`,
    tags: i % 5 === 0 ? ['five'] : i % 2 === 0 ? ['even'] : [],
    methods: i % 2 === 0 ? ['attention', 'saliency'] : ['attention'],
    input: { task: 'chat', messages: [{ role: 'user', content: `Tell me about ${WORDS[i % 7]} number ${i}` }] },
  });
}

function fill(store: RunStore, count: number): void {
  for (let i = 0; i < count; i++) {
    const id = store.createRun(generatedRun(i));
    if (i % 6 === 0) store.failRun(id, 'boom');
    else if (i % 6 !== 5) store.completeRun(id, { patch: { answerText: `Answer ${i}: ${WORDS[(i + 3) % 7]} Ünïcode` } });
  }
}

describe('listRuns', () => {
  let temp: TempStore;
  const count = 120;
  beforeAll(() => {
    temp = tempStore();
    fill(temp.store, count);
  });
  afterAll(() => temp.dispose());

  const ids = (rows: RunSummary[]): number[] => rows.map((row) => Number(row.id.slice(6)));
  const expected = (keep: (i: number) => boolean): number[] => [...Array(count).keys()].filter(keep).reverse();

  it('lists newest first with a total, and pages without overlap', () => {
    const first = temp.store.listRuns({ limit: 50 });
    expect(first.total).toBe(count);
    expect(ids(first.rows)).toEqual(expected(() => true).slice(0, 50));
    const pages = [0, 50, 100].flatMap((offset) => ids(temp.store.listRuns({ offset, limit: 50 }).rows));
    expect(pages).toEqual(expected(() => true));
    expect(temp.store.listRuns({ offset: 500 }).rows).toEqual([]);
    expect(temp.store.listRuns().rows).toHaveLength(100);
  });

  it('filters by experiment, model (name or path), task, status, method and tag, combined with AND', () => {
    const { store } = temp;
    expect(ids(store.listRuns({ experiment: 'exp-1', limit: 1000 }).rows)).toEqual(expected((i) => i % 4 === 1));
    expect(ids(store.listRuns({ model: 'tiny-gpt2', limit: 1000 }).rows)).toEqual(expected((i) => i % 3 === 1));
    expect(store.listRuns({ model: '/models/demo' }).total).toBe(40);
    expect(store.listRuns({ task: 'completion' }).total).toBe(40);
    expect(ids(store.listRuns({ status: 'failed', limit: 1000 }).rows)).toEqual(expected((i) => i % 6 === 0));
    expect(store.listRuns({ status: 'running' }).total).toBe(20);
    expect(store.listRuns({ method: 'saliency' }).total).toBe(60);
    expect(store.listRuns({ method: 'attention' }).total).toBe(120);
    expect(store.listRuns({ method: 'attent' }).total).toBe(0);
    expect(ids(store.listRuns({ tag: 'five', limit: 1000 }).rows)).toEqual(expected((i) => i % 5 === 0));
    expect(ids(store.listRuns({ tag: 'even', experiment: 'exp-2', status: 'done', limit: 1000 }).rows))
      .toEqual(expected((i) => i % 2 === 0 && i % 5 !== 0 && i % 4 === 2 && i % 6 !== 0 && i % 6 !== 5));
    const row = store.listRuns({ tag: 'five', limit: 1 }).rows[0];
    expect(row.tags).toEqual(['five']);
    expect(row.methods).toContain('attention');
  });

  it('searches prompt, answer, model, experiment, tags and notes as case-insensitive substrings', () => {
    const { store } = temp;
    store.updateRun('r_test000007', { notes: 'Interesting HEAD 3 pattern' });
    expect(ids(store.listRuns({ search: 'BANANA', limit: 1000 }).rows)).toEqual(expected((i) => i % 7 === 1 || ((i + 3) % 7 === 1 && i % 6 !== 0 && i % 6 !== 5)));
    expect(ids(store.listRuns({ search: 'number 42' }).rows)).toEqual([42]);
    expect(ids(store.listRuns({ search: 'head 3 patt' }).rows)).toEqual([7]);
    expect(store.listRuns({ search: 'gpt2' }).total).toBe(40);
    expect(store.listRuns({ search: 'exp-3' }).total).toBe(30);
    expect(store.listRuns({ search: 'ünïc' }).total).toBe(80);
    // Parts shorter than three characters still match, as substrings.
    // (every prompt says "number", so "er 9" finds the runs whose number contains a 9)
    expect(ids(store.listRuns({ search: 'er 9 ', limit: 1000 }).rows)).toEqual(expected((i) => String(i).includes('9')));
    const fig = (i: number): boolean => i % 7 === 5 || ((i + 3) % 7 === 5 && i % 6 !== 0 && i % 6 !== 5);
    expect(ids(store.listRuns({ search: 'fig 9', limit: 1000 }).rows)).toEqual(expected((i) => String(i).includes('9') && fig(i)));
    expect(ids(store.listRuns({ search: 'fig 111' }).rows)).toEqual([]);
    expect(ids(store.listRuns({ search: 'FIG 110' }).rows)).toEqual([110]);
    // Query syntax and LIKE wildcards are plain text.
    expect(store.listRuns({ search: '"apple" OR NOT' }).total).toBe(0);
    expect(store.listRuns({ search: '%' }).total).toBe(0);
    expect(store.listRuns({ search: 'a_p' }).total).toBe(0);
    expect(store.listRuns({ search: '   ' }).total).toBe(count);
  });

  it('reads U+0000 in a search as a separator, never as the end of the FTS or LIKE text', () => {
    const { store } = temp;
    expect(ids(store.listRuns({ search: 'number\u000042' }).rows)).toEqual([42]);
    expect(ids(store.listRuns({ search: '\u0000fig\u0000110' }).rows)).toEqual([110]);
    expect(store.listRuns({ search: '\u0000' }).total).toBe(count);
    expect(store.listRuns({ search: 'a\u0000"' }).total).toBe(store.listRuns({ search: 'a "' }).total);
  });

  it('sorts by an allowed column in both directions, ties broken by creation time', () => {
    const { store } = temp;
    const byModel = store.listRuns({ sort: { column: 'modelName', direction: 'asc' }, limit: 1000 }).rows;
    expect(byModel.map((row) => row.modelName)).toEqual([...byModel.map((row) => row.modelName)].sort());
    expect(ids(byModel.slice(0, 3))).toEqual([2, 5, 8]); // demo runs, oldest first
    const down = store.listRuns({ sort: { column: 'status', direction: 'desc' }, limit: 1000 }).rows;
    expect(down[0].status).toBe('running');
    expect(down.at(-1)!.status).toBe('done');
    const oldest = store.listRuns({ sort: { column: 'createdAt', direction: 'asc' }, limit: 2 }).rows;
    expect(ids(oldest)).toEqual([0, 1]);
    expect(store.listRuns({ sort: { column: 'experiment', direction: 'asc' }, limit: 1 }).rows[0].experiment).toBe('exp-0');
    expect(store.listRuns({ sort: { column: 'task', direction: 'desc' }, limit: 1 }).rows[0].task).toBe('question_answering');
  });

  it('rejects sort columns outside the allowlist and bad pages', () => {
    const { store } = temp;
    expect(() => store.listRuns({ sort: { column: 'id; DROP TABLE runs' as 'task', direction: 'asc' } })).toThrow(/cannot sort by/);
    expect(() => store.listRuns({ sort: { column: 'task', direction: 'sideways' as 'asc' } })).toThrow(/direction/);
    expect(() => store.listRuns({ limit: 0 })).toThrow(/limit/);
    expect(() => store.listRuns({ limit: 1001 })).toThrow(/limit/);
    expect(() => store.listRuns({ offset: -1 })).toThrow(/offset/);
    expect(() => store.listRuns({ status: 5 as unknown as 'done' })).toThrow(/status must be a string/);
    expect(store.listRuns().total).toBe(count);
  });
});

describe('listRuns on 10,000 runs', () => {
  it('inserts 10,000 runs in one transaction and pages, filters, searches and sorts them', () => {
    const temp = tempStore();
    try {
      const { store } = temp;
      const db = (store as unknown as { db: { transaction<T>(fn: () => T): () => T } }).db;
      let started = performance.now();
      db.transaction(() => fill(store, 10_000))();
      const insertMs = performance.now() - started;
      const timings: Record<string, number> = {};
      const time = <T>(label: string, fn: () => T): T => {
        // The best of three calls: the first one also prepares the statement.
        let result!: T;
        let best = Infinity;
        for (let k = 0; k < 3; k++) {
          started = performance.now();
          result = fn();
          best = Math.min(best, performance.now() - started);
        }
        timings[label] = Math.round(best * 100) / 100;
        return result;
      };
      expect(time('first page (newest 100)', () => store.listRuns({ limit: 100 })).total).toBe(10_000);
      expect(time('last page (offset 9900)', () => store.listRuns({ offset: 9900, limit: 100 })).rows).toHaveLength(100);
      expect(time('sort modelName asc, page 50', () => store.listRuns({ sort: { column: 'modelName', direction: 'asc' }, offset: 5000, limit: 100 })).rows).toHaveLength(100);
      expect(time('filter experiment + status', () => store.listRuns({ experiment: 'exp-2', status: 'done' })).total).toBe(1667);
      expect(time('filter method', () => store.listRuns({ method: 'saliency' })).total).toBe(5000);
      expect(time('filter tag', () => store.listRuns({ tag: 'five' })).total).toBe(2000);
      expect(time('search "banana" (trigram)', () => store.listRuns({ search: 'banana' })).total).toBeGreaterThan(1000);
      expect(time('search "number 4242"', () => store.listRuns({ search: 'number 4242' })).total).toBe(1);
      expect(time('search "9" (short, scan)', () => store.listRuns({ search: '9' })).total).toBeGreaterThan(1000);
      expect(time('getRun', () => store.getRun('r_test004242'))?.id).toBe('r_test004242');
      expect(time('listExperiments', () => store.listExperiments())).toHaveLength(4);
      expect(time('recentModelFolders', () => store.recentModelFolders())).toHaveLength(3);
      console.log(`run store, 10,000 runs: inserted in ${Math.round(insertMs)} ms (one transaction); query times (ms, best of 3):`, timings);
    } finally {
      temp.dispose();
    }
  });
});
