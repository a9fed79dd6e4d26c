// Reports: the view a report opens on, and runs made from token ids listed and found by their decoded prompt.
import { describe, expect, it } from 'vitest';
import { STATIC_DATA_SCHEMA, createStaticApi, reportStartPath, summarizeRun } from '../../../shared/static-api';
import { makeRun } from './run-fixture';

describe('report start view', () => {
  it('opens a report of one run on its detail, and reports of several runs or an experiment on the list', () => {
    expect(reportStartPath({ schema: STATIC_DATA_SCHEMA, runs: [makeRun({ id: 'r_1 a' })] })).toBe('/runs/r_1%20a');
    expect(reportStartPath({ schema: STATIC_DATA_SCHEMA, runs: [makeRun({ id: 'a' }), makeRun({ id: 'b' })] })).toBeUndefined();
    expect(reportStartPath({ schema: STATIC_DATA_SCHEMA, runs: [makeRun({ id: 'a' })], experiment: 'support' })).toBeUndefined();
  });
});

describe('runs made from token ids', () => {
  const fromIds = { ...makeRun({ id: 'ids' }), input: { task: 'completion' as const, decodedPrompt: 'Are refunds possible within 30 days?' } };

  it('list their decoded prompt and are found by it', async () => {
    expect(summarizeRun(fromIds).promptExcerpt).toBe('Are refunds possible within 30 days?');
    const api = createStaticApi({ schema: STATIC_DATA_SCHEMA, runs: [fromIds, makeRun({ id: 'other' })] });
    expect((await api.listRuns({ search: 'refunds possible' })).rows.map((row) => row.id)).toEqual(['ids']);
  });

  it('keep preferring the prompt or messages when a run has them', () => {
    const both = { ...fromIds, input: { ...fromIds.input, prompt: 'typed prompt' } };
    expect(summarizeRun(both).promptExcerpt).toBe('typed prompt');
  });
});
