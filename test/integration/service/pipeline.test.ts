// The service with the real engine pipeline on a generated fixture model and a real store: in-process (web
// mode without a worker, CLI) and in a worker thread started from the real inference-worker entry.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../../shared/api';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { createWorkerRunner, type WorkerRunner } from '../../../main/service/worker-runner';
import { findWorkerEntry, spawnWorkerThread } from '../../../main/service/thread-child';
import type { JobRunner } from '../../../main/service/job-queue';
import { fixtureFolder } from '../../fixtures/models';
import { request, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let service: WorkbenchService | undefined;
let worker: WorkerRunner | undefined;
let events: ProgressEvent[];

beforeEach(() => {
  temp = tempStore();
  events = [];
});

afterEach(async () => {
  await service?.close();
  await worker?.close();
  service = undefined;
  worker = undefined;
  temp.dispose();
});

function open(runJob: JobRunner): WorkbenchService {
  service = createWorkbenchService({
    store: temp.store,
    runJob,
    demoModel: async () => join(temp.dir, 'demo'),
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
  service.onProgress((event) => events.push(event));
  return service;
}

/** Runs attention on the llama fixture and checks what a view reads: the run, one head, its rows. */
async function explainAndCheck(api: WorkbenchService): Promise<void> {
  const modelPath = await fixtureFolder('llama');
  const { runId } = await api.createRun(request({ modelPath, prompt: 'The capital of France is', generation: { maxNewTokens: 3 } }));
  await api.idle();
  const stages = events.filter((e) => e.runId === runId).map((e) => e.stage);
  expect(stages.at(-1), JSON.stringify(events.at(-1))).toBe('done');
  expect(stages).toEqual(expect.arrayContaining(['queued', 'load', 'generate', 'attention', 'store', 'done']));

  const run = (await api.getRun(runId))!;
  expect(run).toMatchObject({ status: 'done', model: { path: modelPath, architecture: 'llama' } });
  const answerLength = run.tokens.ids.length - run.promptLength;
  expect(answerLength).toBe(3);
  expect(run.attention!.data).toEqual([]);

  const tensor = (await api.listTensors(runId)).find((info) => info.axes.join() === 'layer,head,row,col')!;
  const [layers, heads, rows, cols] = tensor.shape;
  expect([rows, cols]).toEqual([answerLength, run.tokens.ids.length]);
  const head = (await api.getTensorSlice(runId, tensor.name, [layers - 1, heads - 1]))!;
  expect(head.shape).toEqual([rows, cols]);
  for (let row = 0; row < rows; row++) {
    const values = head.data.slice(row * cols, (row + 1) * cols);
    // Row t is the query at position promptLength + t − 1: a softmax over positions 0…that position.
    const query = run.promptLength + row - 1;
    expect(values.reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 2);
    expect(values.slice(query + 1).every((value) => value === 0)).toBe(true);
  }
  const full = (await api.getRun(runId, { includeAttentionData: true }))!;
  expect(full.attention!.data[layers - 1][heads - 1][rows - 1]).toEqual(head.data.slice((rows - 1) * cols));
}

describe('service with the real pipeline', () => {
  it('explains a fixture model in-process', async () => {
    const api = open(pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }));
    await explainAndCheck(api);
  });

  it('explains a fixture model in a worker thread running the real inference-worker entry', async () => {
    const entry = findWorkerEntry(new URL('../../../main/service/thread-child.ts', import.meta.url).href)!;
    expect(entry.file).toMatch(/inference-worker\.(ts|js)$/);
    worker = createWorkerRunner({
      spawn: spawnWorkerThread(entry),
      setup: { databasePath: temp.databasePath, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') },
    });
    await explainAndCheck(open(worker.run));
  });

  it('reports a bad model folder as a failed job with the engine error code', async () => {
    const api = open(pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }));
    const { runId } = await api.createRun(request({ modelPath: temp.dir }));
    await api.idle();
    const failed = events.find((e) => e.runId === runId && e.stage === 'failed');
    expect(failed?.error?.code).toBe('missing_config');
    expect(failed?.error?.name).toBe('ModelFolderError');
  });
});
