// Inference in a child: the service runs jobs in a worker thread that writes to the same SQLite file; a crash
// of the child fails only the job at hand (with a clear message) and the next job gets a fresh child; a
// cancel that the child cannot see ends the child after the grace period.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../../shared/api';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { createWorkerRunner, type WorkerRunner } from '../../../main/service/worker-runner';
import { findWorkerEntry, spawnWorkerThread } from '../../../main/service/thread-child';
import { request, tempStore, type TempStore } from './helpers';

const childFile = join(fileURLToPath(new URL('.', import.meta.url)), 'inference-child.fixture.ts');

let temp: TempStore;
let runner: WorkerRunner;
let service: WorkbenchService;
let events: ProgressEvent[];
let crashes: string[];

beforeEach(() => {
  temp = tempStore();
  crashes = [];
  runner = createWorkerRunner({
    spawn: spawnWorkerThread({ file: childFile, typescript: true }),
    setup: { databasePath: temp.databasePath, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') },
    cancelGraceMs: 500,
    onCrash: (reason) => crashes.push(reason),
  });
  service = createWorkbenchService({
    store: temp.store,
    runJob: runner.run,
    demoModel: async () => '/models/demo',
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
  events = [];
  service.onProgress((event) => events.push(event));
});

afterEach(async () => {
  await service.close();
  await runner.close();
  temp.dispose();
});

const stagesOf = (runId: string) => events.filter((e) => e.runId === runId).map((e) => e.stage);

describe('inference in a worker thread', () => {
  it('runs jobs in the child, which writes the run into the shared database', async () => {
    const { runId } = await service.createRun(request({ tags: ['child'] }));
    await service.idle();
    expect(stagesOf(runId)).toEqual(['queued', 'load', 'generate', 'attention', 'store', 'done']);
    expect(await service.getRun(runId)).toMatchObject({ status: 'done', answerText: 'at nine', tags: ['child'] });
    const slice = await service.getTensorSlice(runId, 'attention.data', [1, 1]);
    expect(slice!.data[0]).toBeCloseTo(0.45, 6);
  });

  it('fails only the job at hand when the child crashes, and restarts the child for the next job', async () => {
    const crashed = await service.createRun(request({ prompt: 'crash' }));
    const next = await service.createRun(request({ prompt: 'after the crash' }));
    await service.idle();
    const failure = events.find((e) => e.runId === crashed.runId && e.stage === 'failed');
    expect(failure?.error?.code).toBe('worker_crashed');
    expect(failure?.message).toContain('The inference process stopped unexpectedly (exit code 7)');
    expect(crashes).toEqual(['exit code 7']);
    // The row the child had not created stays absent; the next job ran in a fresh child.
    expect(stagesOf(next.runId).at(-1)).toBe('done');
    expect(await service.getRun(next.runId)).toMatchObject({ status: 'done' });
  });

  it('cancels a job in the child', async () => {
    const { runId } = await service.createRun(request({ prompt: 'slow' }));
    while (!events.some((e) => e.runId === runId && e.stage === 'generate')) await new Promise((r) => setTimeout(r, 10));
    await service.cancelRun(runId);
    await service.idle();
    expect(stagesOf(runId).at(-1)).toBe('cancelled');
    expect(await service.getRun(runId)).toMatchObject({ status: 'cancelled' });
    expect(crashes).toEqual([]);
  });

  it('ends a child that cannot see the cancel after the grace period, without calling it a crash', async () => {
    const { runId } = await service.createRun(request({ prompt: 'hang' }));
    while (!events.some((e) => e.runId === runId && e.stage === 'load')) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    await service.cancelRun(runId);
    await service.idle();
    expect(stagesOf(runId).at(-1)).toBe('cancelled');
    expect(crashes).toEqual([]);
    const after = await service.createRun(request());
    await service.idle();
    expect(stagesOf(after.runId).at(-1)).toBe('done');
  });

  it('finds the real inference-worker entry from the source tree', () => {
    const entry = findWorkerEntry(new URL('../../../main/service/thread-child.ts', import.meta.url).href);
    expect(entry).toBeDefined();
    expect(entry!.file.endsWith('inference-worker.ts') || entry!.file.endsWith('inference-worker.js')).toBe(true);
  });
});
