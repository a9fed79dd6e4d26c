// Warm sessions in the app's inference child (a worker thread running the real inference-worker entry, the real
// pipeline, fixture models from our builder): a model's second run and a batch's later items load nothing, a model
// rewritten in place is loaded again (and gives the new model's numbers), and a small memory budget releases another
// model's idle sessions, least recently used first. Each run records it in `sessions` (warm or cold).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { createWorkerRunner, type WorkerRunner } from '../../../main/service/worker-runner';
import { findWorkerEntry, spawnWorkerThread } from '../../../main/service/thread-child';
import { runExplanation } from '../../../main/service/pipeline';
import { serveInferenceChild } from '../../../main/service/worker-child';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { openRunStore } from '../../../main/store/run-store';
import type { ChildMessage, ParentMessage } from '../../../main/service/worker-protocol';
import { SessionPool } from '../../../main/engine/session-pool';
import { buildLlamaModel } from '../../../main/engine/model-builder/llama';
import { writeModelFolder } from '../../../main/engine/model-builder/folder';
import { llama2Tokenizer } from '../../../main/engine/model-builder/tokenizers';
import { fixtureFolder, FIXTURE_SPECS } from '../../fixtures/models';

const LLAMA_FIXTURE_SPEC = FIXTURE_SPECS.llama;
import { tempStore, type TempStore } from './helpers';

let temp: TempStore;
let worker: WorkerRunner;
let service: WorkbenchService;
let models: string;
let llama: string;
let gpt2: string;

beforeAll(async () => {
  // Copies: a model folder the pool has never seen in any process, and one this file may rewrite.
  models = mkdtempSync(join(tmpdir(), 'warm-models-'));
  llama = join(models, 'llama');
  gpt2 = join(models, 'gpt2');
  cpSync(await fixtureFolder('llama'), llama, { recursive: true });
  cpSync(await fixtureFolder('gpt2'), gpt2, { recursive: true });
});

afterAll(() => rmSync(models, { recursive: true, force: true }));

beforeEach(() => {
  temp = tempStore();
  const entry = findWorkerEntry(new URL('../../../main/service/thread-child.ts', import.meta.url).href)!;
  worker = createWorkerRunner({
    spawn: spawnWorkerThread(entry),
    setup: { databasePath: temp.databasePath, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') },
  });
  service = createWorkbenchService({
    store: temp.store,
    runJob: worker.run,
    demoModel: async () => join(temp.dir, 'demo'),
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
});

afterEach(async () => {
  await service.close();
  await worker.close();
  temp.dispose();
});

function explain(modelPath: string, overrides: Partial<ExplainRequest> = {}): ExplainRequest {
  return {
    task: 'completion',
    modelPath,
    prompt: 'The capital of France is',
    answer: ' Paris, of course',
    generation: { maxNewTokens: 4 },
    methods: ['attention', 'saliency'],
    device: 'cpu',
    ...overrides,
  };
}

async function runInChild(request: ExplainRequest): Promise<RunJson> {
  const { runId } = await service.createRun(request);
  await service.idle();
  const run = (await service.getRun(runId, { includeAttentionData: true }))!;
  expect(run.status, run.error).toBe('done');
  return run;
}

describe('warm sessions in the inference child', () => {
  it('serves a model’s second run from open sessions, with the same numbers', async () => {
    const first = await runInChild(explain(llama));
    const second = await runInChild(explain(llama));
    expect(first.sessions).toEqual({ model: 'cold', attention: 'cold', gradients: 'cold' });
    expect(second.sessions).toEqual({ model: 'warm', attention: 'warm', gradients: 'warm' });
    expect(second.attention!.data).toEqual(first.attention!.data);
    expect(second.gradient!.saliency).toEqual(first.gradient!.saliency);
    // A new answer length runs in the warm program but builds its derivative sessions.
    const longer = await runInChild(explain(llama, { answer: ' Paris, of course it is' }));
    expect(longer.sessions).toEqual({ model: 'warm', attention: 'warm', gradients: 'cold' });
  });

  it('loads the model once for a batch of items', async () => {
    const datasetText = ['Where is Paris?', 'Where is Rome?', 'Where is Oslo?', 'Where is Lima?']
      .map((prompt, index) => JSON.stringify({ id: `q${index}`, prompt, answer: ' In Europe' }))
      .join('\n');
    const batch = await service.startBatch({
      modelPath: gpt2,
      experiment: 'warm-batch',
      datasetText,
      settings: { generation: { maxNewTokens: 4 }, methods: ['attention'], device: 'cpu' },
    });
    await service.idle();
    const info = (await service.getBatch(batch.batchId))!;
    const runs = await Promise.all(info.items.map(async (item) => (await service.getRun(item.runId!))!));
    expect(runs.map((run) => run.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(runs.map((run) => run.sessions?.model)).toEqual(['cold', 'warm', 'warm', 'warm']);
    expect(runs.map((run) => run.sessions?.attention)).toEqual(['cold', 'warm', 'warm', 'warm']);
  });

  it('loads a model again when its files change, and gives the new model’s numbers', async () => {
    const folder = join(models, 'rewritten');
    await writeModelFolder(folder, buildLlamaModel(LLAMA_FIXTURE_SPEC), await llama2Tokenizer());
    const before = await runInChild(explain(folder));
    await writeModelFolder(folder, buildLlamaModel({ ...LLAMA_FIXTURE_SPEC, seed: 7 }), await llama2Tokenizer());
    const after = await runInChild(explain(folder));
    expect(after.sessions).toEqual({ model: 'cold', attention: 'cold', gradients: 'cold' });
    expect(after.model.sha256).not.toBe(before.model.sha256);
    // Independent reference: the new folder explained in this process with a fresh pool and graph cache.
    const pool = new SessionPool(Number.MAX_SAFE_INTEGER);
    const { run: fresh } = await runExplanation(explain(folder), { store: temp.store, cacheDir: join(temp.dir, 'fresh-cache'), demoModelDir: join(temp.dir, 'demo'), sessions: pool });
    await pool.release();
    expect(fresh.sessions?.model).toBe('cold');
    expect(after.gradient!.saliency).toEqual(fresh.gradient!.saliency);
    expect(after.gradient!.targetValues).toEqual(fresh.gradient!.targetValues);
    expect(after.gradient!.targetValues).not.toEqual(before.gradient!.targetValues);
  });

  it('releases another model’s idle sessions, least recently used first, when a run’s budget needs the room', async () => {
    const attention = { methods: ['attention'] };
    const firstLlama = await runInChild(explain(llama, attention));
    await runInChild(explain(gpt2, attention));
    // Both stay warm under the default budget.
    expect((await runInChild(explain(llama, attention))).sessions?.model).toBe('warm');
    expect((await runInChild(explain(gpt2, attention))).sessions?.model).toBe('warm');
    // A budget that fits the llama run's own estimate and nothing more: gpt2's sessions (least recent now) go.
    const tight = await runInChild(explain(llama, { ...attention, memoryBudgetBytes: firstLlama.memory!.estimateBytes }));
    expect(tight.sessions?.model).toBe('warm');
    expect((await runInChild(explain(gpt2, attention))).sessions?.model).toBe('cold');
    expect((await runInChild(explain(llama, attention))).sessions?.model).toBe('warm');
  });
});

describe('shutdown of the inference child', () => {
  it('releases the warm sessions before the child exits', async () => {
    const pool = new SessionPool(Number.MAX_SAFE_INTEGER);
    const { run } = await runExplanation(explain(llama, { methods: ['attention'] }), { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo'), sessions: pool });
    expect(run.sessions?.model).toBe('cold');
    expect(pool.stats().entries).toHaveLength(2);
    // The real child side on an in-process port: what the inference-worker entry wires, with this pool.
    let listener: (message: ParentMessage) => void = () => {};
    const sent: ChildMessage[] = [];
    const exited = new Promise<{ code: number; kept: number }>((resolve) => {
      serveInferenceChild(
        { postMessage: (message) => sent.push(message), onMessage: (handler) => (listener = handler) },
        {
          openStore: (path) => {
            const store = openRunStore(path);
            return { store, close: () => store.close() };
          },
          makeRunner: (store, setup) => pipelineRunner({ store, cacheDir: setup.cacheDir, demoModelDir: setup.demoModelDir }),
          release: () => pool.release(),
          exit: (code) => resolve({ code, kept: pool.stats().entries.length }),
        },
      );
    });
    listener({ type: 'init', setup: { databasePath: temp.databasePath, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') } });
    expect(sent).toEqual([{ type: 'ready' }]);
    listener({ type: 'shutdown' });
    expect(await exited).toEqual({ code: 0, kept: 0 });
    await expect(runExplanation(explain(llama), { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo'), sessions: pool })).rejects.toThrow(/released/);
  });
});
