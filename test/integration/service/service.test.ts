// The workbench service against the real run store (a temporary SQLite file): listing, editing, tensors,
// validation of every kind of bad argument, and the job queue (order, progress, cancel, failure).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, type ProgressEvent, type RunsChangedEvent } from '../../../shared/api';
import { createApiProxy } from '../../../shared/api-proxy';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { fixtureFolder } from '../../fixtures/models';
import { PROMPT_TOKENS, request, storeWritingRunner, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let service: WorkbenchService;
let log: string[];
let events: ProgressEvent[];
let changes: RunsChangedEvent[];

beforeEach(() => {
  temp = tempStore();
  log = [];
  service = createWorkbenchService({
    store: temp.store,
    runJob: storeWritingRunner(temp.store, log),
    demoModel: async () => '/models/demo',
    databasePath: temp.databasePath,
    mode: 'local',
    version: '0.1.0-test',
  });
  events = [];
  changes = [];
  service.onProgress((event) => events.push(event));
  service.onRunsChanged((event) => changes.push(event));
});

afterEach(async () => {
  await service.close();
  temp.dispose();
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the call to fail');
}

describe('runs', () => {
  it('creates a run through the queue, reports every stage and stores it', async () => {
    const { runId } = await service.createRun(request({ tags: ['first'] }));
    await service.idle();
    expect(events.filter((e) => e.runId === runId).map((e) => e.stage)).toEqual(['queued', 'load', 'generate', 'attention', 'store', 'done']);
    expect(events.find((e) => e.stage === 'generate')).toMatchObject({ fraction: 0.5, message: 'token 1/2' });
    const run = await service.getRun(runId);
    expect(run).toMatchObject({ id: runId, status: 'done', answerText: 'at nine', tags: ['first'], promptLength: 5 });
    expect(run!.tokens.text).toEqual([...PROMPT_TOKENS, 'at', 'nine']);
    expect(changes.map((c) => c.reason)).toEqual(['created', 'finished']);
  });

  it('leaves attention data out unless asked, and then rebuilds it from the stored tensor', async () => {
    const { runId } = await service.createRun(request());
    await service.idle();
    const light = await service.getRun(runId);
    expect(light!.attention).toMatchObject({ layers: 2, heads: 2, data: [], input: [0.1, 0.9] });
    const full = await service.getRun(runId, { includeAttentionData: true });
    const data = full!.attention!.data;
    expect([data.length, data[0].length, data[0][0].length, data[0][0][0].length]).toEqual([2, 2, 3, 5]);
    // element [1][0][2][4] is flat index ((1*2+0)*3+2)*5+4 = 44 → 0.44 (float32)
    expect(data[1][0][2][4]).toBeCloseTo(0.44, 6);
  });

  it('reads one head as a slice and checks its indices', async () => {
    const { runId } = await service.createRun(request());
    await service.idle();
    expect(await service.listTensors(runId)).toEqual([
      { name: 'attention.data', axes: ['layer', 'head', 'row', 'col'], shape: [2, 2, 3, 5], encoding: 'float32' },
    ]);
    const slice = await service.getTensorSlice(runId, 'attention.data', [1, 0]);
    expect(slice!.axes).toEqual(['row', 'col']);
    expect(slice!.shape).toEqual([3, 5]);
    const expected = Array.from({ length: 15 }, (_, i) => (30 + i) / 100);
    slice!.data.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));
    expect(await service.getTensorSlice(runId, 'gradient.saliency', [0])).toBeNull();
    expect(await service.getTensorSlice('r_missing', 'attention.data', [0])).toBeNull();
    const outOfRange = await rejection(service.getTensorSlice(runId, 'attention.data', [2, 0]));
    expect(outOfRange.code).toBe('invalid_argument');
    expect(outOfRange.message).toContain('out of range for axis layer of size 2');
  });

  it('lists with search, filters, sort and paging', async () => {
    await service.createRun(request({ prompt: 'alpha question', experiment: 'one', tags: ['x'] }));
    await service.createRun(request({ prompt: 'beta question', experiment: 'two' }));
    await service.createRun(request({ prompt: 'gamma question', experiment: 'two', tags: ['x'] }));
    await service.idle();
    expect((await service.listRuns()).total).toBe(3);
    expect((await service.listRuns({ search: 'beta' })).rows.map((r) => r.promptExcerpt)).toEqual(['beta question']);
    expect((await service.listRuns({ experiment: 'two' })).total).toBe(2);
    expect((await service.listRuns({ tag: 'x' })).total).toBe(2);
    const page = await service.listRuns({ limit: 2, offset: 0, sort: { column: 'createdAt', direction: 'asc' } });
    expect(page.total).toBe(3);
    expect(page.rows.map((r) => r.promptExcerpt)).toEqual(['alpha question', 'beta question']);
    const experiments = await service.listExperiments();
    expect(experiments.map((e) => [e.name, e.runCount]).sort()).toEqual([['one', 1], ['two', 2]]);
  });

  it('edits tags, notes and experiment, and answers null for an unknown run', async () => {
    const { runId } = await service.createRun(request());
    await service.idle();
    const updated = await service.updateRun(runId, { tags: ['checked', 'demo'], notes: 'looks right', experiment: 'review' });
    expect(updated).toMatchObject({ id: runId, tags: ['checked', 'demo'], experiment: 'review' });
    expect((await service.getRun(runId))!.notes).toBe('looks right');
    expect(await service.updateRun('r_missing', { notes: 'x' })).toBeNull();
    expect(changes.at(-1)).toEqual({ reason: 'updated', runIds: [runId] });
  });

  it('deletes runs', async () => {
    const a = await service.createRun(request());
    const b = await service.createRun(request());
    await service.idle();
    expect(await service.deleteRuns([a.runId, 'r_missing'])).toEqual({ deleted: 1 });
    expect(await service.getRun(a.runId)).toBeNull();
    expect(await service.getRun(b.runId)).not.toBeNull();
    expect(await service.recentModelFolders()).toMatchObject([{ path: '/models/demo', runCount: 1 }]);
  });
});

describe('jobs', () => {
  it('runs one job at a time, in order', async () => {
    // The first job is a slow one, so it is still running when the second is queued and the jobs are listed
    // (a 20 ms job could finish while createRun checks the second request on a loaded machine).
    const first = await service.createRun(request({ prompt: 'slow' }));
    const second = await service.createRun(request());
    expect((await service.listJobs()).map((j) => j.runId)).toEqual([first.runId, second.runId]);
    await service.idle();
    expect(log).toEqual([`start ${first.runId}`, `end ${first.runId}`, `start ${second.runId}`, `end ${second.runId}`]);
    expect(await service.listJobs()).toEqual([]);
  });

  it('cancels a running job and marks its row cancelled', async () => {
    const { runId } = await service.createRun(request({ prompt: 'slow' }));
    await waitFor(() => events.some((event) => event.runId === runId && event.stage === 'generate'));
    expect(await service.cancelRun(runId)).toEqual({ cancelled: true });
    await service.idle();
    expect(events.at(-1)).toMatchObject({ runId, stage: 'cancelled' });
    expect(await service.getRun(runId)).toMatchObject({ status: 'cancelled', error: 'cancelled by the user' });
    expect(await service.cancelRun(runId)).toEqual({ cancelled: false });
  });

  it('cancels a queued job before it starts', async () => {
    const slow = await service.createRun(request({ prompt: 'slow' }));
    const queued = await service.createRun(request());
    expect(await service.cancelRun(queued.runId)).toEqual({ cancelled: true });
    await service.cancelRun(slow.runId);
    await service.idle();
    expect(events.filter((e) => e.runId === queued.runId).map((e) => e.stage)).toEqual(['queued', 'cancelled']);
    expect(log).not.toContain(`start ${queued.runId}`);
    expect(await service.getRun(queued.runId)).toBeNull();
  });

  it('reports a failed job with its error and marks the row failed', async () => {
    const { runId } = await service.createRun(request({ prompt: 'fail' }));
    await service.idle();
    expect(events.at(-1)).toMatchObject({ runId, stage: 'failed', message: 'explainer exploded', error: { code: 'internal', message: 'explainer exploded' } });
    expect(await service.getRun(runId)).toMatchObject({ status: 'failed', error: 'explainer exploded' });
  });

  it('reports a job that failed before its row existed, keeping the error code', async () => {
    const { runId } = await service.createRun(request({ prompt: 'fail-early' }));
    await service.idle();
    expect(events.at(-1)).toMatchObject({ runId, stage: 'failed', error: { code: 'not_found', message: 'Model folder not found: /nowhere' } });
    expect(await service.getRun(runId)).toBeNull();
  });

  it('refuses a model folder that does not exist before queueing anything', async () => {
    const error = await rejection(service.createRun(request({ modelPath: join(temp.dir, 'no-such-model') })));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('model folder not found');
    expect(await service.listJobs()).toEqual([]);
  });
});

describe('validation (in-process calls)', () => {
  it('rejects wrong types with the parameter path', async () => {
    const badId = await rejection(service.getRun(42 as unknown as string));
    expect(badId).toMatchObject({ code: 'invalid_argument', message: 'getRun: id must be a string (got the number 42)' });
    const badLimit = await rejection(service.listRuns({ limit: 'ten' as unknown as number }));
    expect(badLimit.message).toBe('listRuns: query.limit must be a finite number (got the string "ten")');
    const badSort = await rejection(service.listRuns({ sort: { column: 'prompt' as 'task', direction: 'asc' } }));
    expect(badSort.message).toContain('query.sort.column must be one of "createdAt"');
    const badTags = await rejection(service.updateRun('r_1', { tags: ['ok', ''] }));
    expect(badTags.message).toBe('updateRun: patch.tags[1] must not be empty');
  });

  it('rejects missing fields, unknown fields and contradictory requests', async () => {
    const { generation: _generation, ...noGeneration } = request();
    expect((await rejection(service.createRun(noGeneration as never))).message).toBe('createRun: request.generation is required');
    expect((await rejection(service.createRun(request({ methods: ['attention', 'telepathy'] })))).message).toContain(
      'createRun: request.methods[1] must be one of "attention"',
    );
    expect((await rejection(service.createRun({ ...request(), temperature: 1 } as never))).message).toContain(
      'request has an unknown field "temperature"',
    );
    expect((await rejection(service.createRun(request({ messages: [{ role: 'user', content: 'hi' }] })))).message).toBe(
      'createRun: request: give messages or prompt, not both',
    );
    expect((await rejection(service.createRun(request({ options: { target: 'contrastive' } })))).message).toContain('needs request.options.foil');
    expect((await rejection(service.createRun(request({ modelPath: 'relative/model' })))).message).toContain('must be an absolute folder path');
    expect((await rejection(service.getRun(undefined as unknown as string))).message).toBe('getRun: id is required');
    expect((await rejection(service.inspectModelFolder(''))).message).toBe('inspectModelFolder: path must not be empty');
  });

  it('answers unknown methods and malformed calls by name as data', async () => {
    expect(await service.call('dropDatabase', [])).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'unknown_method', message: expect.stringContaining('Unknown API method "dropDatabase"') }),
    });
    expect(await service.call('listRuns', { limit: 1 })).toMatchObject({ ok: false, error: { code: 'invalid_argument', message: 'listRuns: arguments must be an array (got an object)' } });
    expect(await service.call('appInfo', [1])).toMatchObject({ ok: false, error: { message: 'appInfo: takes at most 0 argument(s) (none), got 1' } });
    expect(await service.call('listRuns', [{ limit: 1 }])).toEqual({ ok: true, value: { rows: [], total: 0 } });
  });
});

describe('environment', () => {
  it('describes a real fixture model folder', async () => {
    const folder = await fixtureFolder('llama');
    const info = await service.inspectModelFolder(folder);
    expect(info).toMatchObject({ path: folder, usable: true, architecture: 'llama', hasChatTemplate: true });
    expect(info.dtypes).toContain('fp32');
    expect(info.files).toContain('onnx/model.onnx');
    expect(info.sizeBytes).toBeGreaterThan(1000);
    expect(info.layers).toBeGreaterThan(0);
    expect(info.heads).toBeGreaterThan(0);
  });

  it('says why a folder cannot be used instead of throwing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'f1-empty-model-'));
    try {
      const info = await service.inspectModelFolder(empty);
      expect(info).toMatchObject({ usable: false, problem: { code: 'missing_config' } });
      const missing = await service.inspectModelFolder(join(empty, 'nope'));
      expect(missing).toMatchObject({ usable: false, problem: { code: 'not_found', name: 'ModelFolderError' } });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('lists devices, app info, and refuses the folder dialog outside Electron', async () => {
    const devices = await service.listDevices();
    expect(devices.find((d) => d.device === 'cpu')).toEqual({ device: 'cpu', available: true });
    expect(await service.appInfo()).toMatchObject({ mode: 'local', version: '0.1.0-test', canPickFolder: false, databasePath: temp.databasePath });
    expect(await service.demoModelPath()).toBe('/models/demo');
    expect((await rejection(service.pickModelFolder())).code).toBe('unsupported');
  });
});

describe('the generated proxy over the in-process transport', () => {
  it('gives views the same API, with errors rebuilt as ApiError and events relayed', async () => {
    const api = createApiProxy((method, args) => service.call(method, args), (listener) => service.onEvent(listener));
    const seen: string[] = [];
    const stop = api.onProgress((event) => seen.push(event.stage));
    const { runId } = await api.createRun(request());
    await service.idle();
    stop();
    expect(seen.at(-1)).toBe('done');
    expect((await api.getRun(runId))!.id).toBe(runId);
    const error = await rejection(api.listRuns({ offset: -1 }));
    expect(error).toMatchObject({ code: 'invalid_argument', message: 'listRuns: query.offset must be at least 0 (got -1)' });
    // Trailing undefined arguments are dropped, as JSON would drop them.
    expect((await api.listRuns(undefined)).total).toBe(1);
  });
});
