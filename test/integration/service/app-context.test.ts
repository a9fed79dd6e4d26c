// The one composition root every door opens: a read-write context (store, service, close) and a reading
// context over a store opened read-only, whose service answers reads and refuses writes. Real SQLite files.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAppContext, openReadingContext } from '../../../main/app/context';
import { sampleRun } from '../store/helpers';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'app-context-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('openAppContext', () => {
  it('opens store and service on one file, and close() ends both once', async () => {
    const databasePath = join(dir, 'runs.db');
    const app = openAppContext({ databasePath, inference: 'in-process', cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo') });
    const id = app.store.createRun(sampleRun());
    expect((await app.service.appInfo()).databasePath).toBe(databasePath);
    expect((await app.service.listRuns()).rows.map((row) => row.id)).toEqual([id]);
    expect(await app.service.updateRun(id, { notes: 'seen' })).toMatchObject({ id });
    await Promise.all([app.close(), app.close()]);
    expect(() => app.store.getRun(id)).toThrow(/not open/);
    await expect(app.service.createRun({ task: 'completion', prompt: 'x', generation: { maxNewTokens: 1 }, methods: [], device: 'cpu' })).rejects.toThrow();
  });
});

describe('openReadingContext', () => {
  it('reads a missing file as an empty store without creating it', async () => {
    const databasePath = join(dir, 'missing.db');
    const reading = openReadingContext({ databasePath });
    expect(await reading.service.listRuns()).toEqual({ rows: [], total: 0 });
    await reading.close();
    expect(existsSync(databasePath)).toBe(false);
  });

  it('answers reads and refuses every write with unsupported, naming the store', async () => {
    const databasePath = join(dir, 'read.db');
    const writer = openAppContext({ databasePath, inference: 'in-process' });
    const id = writer.store.createRun(sampleRun({ experiment: 'kept' }));
    await writer.close();
    const reading = openReadingContext({ databasePath });
    try {
      expect((await reading.service.getRun(id))?.id).toBe(id);
      expect((await reading.service.listExperiments()).map((experiment) => experiment.name)).toEqual(['kept']);
      const refused = [
        reading.service.updateRun(id, { notes: 'no' }),
        reading.service.deleteRuns([id]),
        reading.service.renameExperiment('kept', 'other'),
        reading.service.cancelRun(id),
        reading.service.createRun({ task: 'completion', prompt: 'x', generation: { maxNewTokens: 1 }, methods: [], device: 'cpu' }),
        reading.service.startBatch({ datasetText: '{"prompt": "x"}', experiment: 'e', settings: { generation: { maxNewTokens: 1 }, methods: [], device: 'cpu' } }),
      ];
      for (const attempt of refused) {
        await expect(attempt).rejects.toMatchObject({ code: 'unsupported', message: expect.stringContaining(`${databasePath} is open read-only`) });
      }
      expect((await reading.service.getRun(id))?.notes ?? '').toBe('');
      expect(await reading.service.listBatches()).toEqual([]);
    } finally {
      await reading.close();
    }
  });
});
