// The static (report) client: the same API over embedded runs, read-only, with escaping that keeps the
// JSON inside its script element.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/api';
import { STATIC_DATA_SCHEMA, createStaticApi, embedStaticData, readStaticData } from '../../../shared/static-api';
import { makeRun } from './run-fixture';

const runs = [
  { ...makeRun({ id: 'a' }), createdAt: '2026-11-01T00:00:00Z', experiment: 'alpha', tags: ['x'] },
  { ...makeRun({ id: 'b', seed: 3 }), createdAt: '2026-11-02T00:00:00Z', experiment: 'beta', status: 'failed' as const },
  { ...makeRun({ id: 'c', seed: 5 }), createdAt: '2026-11-03T00:00:00Z', experiment: 'alpha', answer: [' closed'] },
];
runs[2] = { ...makeRun({ id: 'c', seed: 5, answer: [' closed'] }), createdAt: '2026-11-03T00:00:00Z', experiment: 'alpha' };

describe('static client', () => {
  const api = createStaticApi({ schema: STATIC_DATA_SCHEMA, runs });

  it('lists, filters, searches, sorts and pages like the live API', async () => {
    expect((await api.listRuns()).rows.map((row) => row.id)).toEqual(['c', 'b', 'a']);
    expect((await api.listRuns({ experiment: 'alpha' })).total).toBe(2);
    expect((await api.listRuns({ status: 'failed' })).rows.map((row) => row.id)).toEqual(['b']);
    expect((await api.listRuns({ search: 'CLOSED' })).rows.map((row) => row.id)).toEqual(['c']);
    expect((await api.listRuns({ sort: { column: 'createdAt', direction: 'asc' }, offset: 1, limit: 1 })).rows.map((row) => row.id)).toEqual(['b']);
    expect((await api.listExperiments()).map((entry) => [entry.name, entry.runCount])).toEqual([['alpha', 2], ['beta', 1]]);
  });

  it('serves head slices from the embedded attention data', async () => {
    const run = runs[0];
    const tensors = await api.listTensors('a');
    expect(tensors).toEqual([{ name: 'attention.answer', axes: ['layer', 'head', 'row', 'col'], shape: [2, 3, 5, 12], encoding: 'float32' }]);
    const layer = await api.getTensorSlice('a', 'attention.answer', [1]);
    expect(layer?.shape).toEqual([3, 5, 12]);
    expect(layer?.data.slice(60, 72)).toEqual(run.attention!.data[1][1][0]);
    const head = await api.getTensorSlice('a', 'attention.answer', [0, 2]);
    expect(head?.axes).toEqual(['row', 'col']);
    expect(head?.data).toEqual(run.attention!.data[0][2].flat());
    await expect(api.getTensorSlice('a', 'attention.answer', [5])).rejects.toThrow(/out of range/);
    expect(await api.getTensorSlice('a', 'gradient.raw', [0])).toBeNull();
  });

  it('refuses changes', async () => {
    await expect(api.updateRun('a', { tags: [] })).rejects.toBeInstanceOf(ApiError);
    await expect(api.createRun({ task: 'chat', generation: { maxNewTokens: 1 }, methods: [], device: 'cpu' })).rejects.toMatchObject({ code: 'unsupported' });
  });

  it('embeds data that cannot close its script element and reads it back unchanged', () => {
    const hostile = { ...makeRun({ id: 'h', answer: ['</script><img src=x onerror=alert(1)>'] }), notes: '<!-- \u2028 & -->' };
    const text = embedStaticData({ schema: STATIC_DATA_SCHEMA, runs: [hostile] });
    expect(text).not.toMatch(/[<>&\u2028]/);
    const read = readStaticData({ getElementById: (id) => (id === 'llm-explainer-data' ? { textContent: text } : null) });
    expect(read?.runs[0]).toEqual(hostile);
    expect(readStaticData({ getElementById: () => null })).toBeNull();
  });
});
