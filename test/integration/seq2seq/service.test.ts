// Encoder-decoder folders through the workbench service (the API every door uses): the folder picker reports them
// usable, and a run queued through the service completes with the seq2seq run JSON.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';

let temp: TempStore;
let api: WorkbenchService;
beforeAll(() => {
  temp = tempStore();
  api = createWorkbenchService({
    store: temp.store,
    runJob: pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }),
    demoModel: async () => join(temp.dir, 'demo'),
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
});
afterAll(async () => {
  await api?.close();
  temp?.dispose();
});

describe('seq2seq through the service', () => {
  it('describes a BART-style folder as usable and runs a summarization with attention and saliency', async () => {
    const folder = await fixtureFolder('bart');
    const info = await api.inspectModelFolder(folder);
    expect(info.usable, JSON.stringify(info.problem)).toBe(true);
    expect(info).toMatchObject({ architecture: 'bart', layers: 2, heads: 4 });
    const { runId } = await api.createRun({ modelPath: folder, task: 'summarization', prompt: 'A long article about houses.', generation: { maxNewTokens: 4 }, methods: ['attention', 'saliency'], device: 'cpu' });
    await api.idle();
    const run = (await api.getRun(runId))!;
    expect(run.status, run.error).toBe('done');
    expect(run.promptLength).toBe(1);
    expect(run.tokens.ids[0]).toBe(2);
    expect(run.source!.ids[0]).toBe(0);
    // Like attention.data, the encoder and cross arrays come from their tensors only when asked for.
    expect(run.attention!.cross!.data).toEqual([]);
    expect(run.attention!.cross!.mean).toHaveLength(run.tokens.ids.length - 1);
    const whole = (await api.getRun(runId, { includeAttentionData: true }))!;
    expect(whole.attention!.cross!.data[0][0]).toHaveLength(run.tokens.ids.length - 1);
    expect(whole.attention!.encoder!.data[0][0]).toHaveLength(run.source!.ids.length);
    expect(run.gradient!.source!.saliency).toHaveLength(run.tokens.ids.length - 1);
  }, 120_000);
});
