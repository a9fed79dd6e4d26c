// Supplied answers and exact token ids through the real pipeline and service, on the built-in demo model and a
// real store: text answers become the tokens the model would produce after the template (README "Supplied
// answers"), unknown-token answers carry a warning, and ids past the vocabulary are refused before a run exists.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunJson } from '../../../shared/run';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { runExplanation, TokenIdError } from '../../../main/service/pipeline';
import { ensureDemoModel } from '../../../main/demo/demo-model';
import { fixtureFolder } from '../../fixtures/models';
import { request, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let api: WorkbenchService;
let demoDir: string;

beforeAll(async () => {
  temp = tempStore();
  demoDir = await ensureDemoModel(join(temp.dir, 'demo'));
  api = createWorkbenchService({
    store: temp.store,
    runJob: pipelineRunner({ store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }),
    demoModel: async () => demoDir,
    databasePath: temp.databasePath,
    mode: 'local',
    version: 'test',
  });
}, 120_000);

afterAll(async () => {
  await api?.close();
  temp?.dispose();
});

async function explained(overrides: Parameters<typeof request>[0]): Promise<RunJson> {
  const { runId } = await api.createRun(request({ task: 'chat', methods: ['attention'], ...overrides }));
  await api.idle();
  const run = (await api.getRun(runId))!;
  expect(run.status, run.error).toBe('done');
  return run;
}

const answerTexts = (run: RunJson) => run.tokens.text.slice(run.promptLength);

describe('supplied answers on the demo model', () => {
  it('"email support: next business day" keeps its first word and needs no warning', async () => {
    const run = await explained({ prompt: '[DATA]\nemail support: next business day\n[/DATA]\nWhen is email support open?', answer: 'email support: next business day' });
    expect(answerTexts(run)).toEqual([' email', ' support:', ' next', ' business', ' day']);
    expect(run.answerText).toBe(' email support: next business day');
    expect(run.tokens.ids.slice(run.promptLength)).not.toContain(0);
    expect(run.warnings).toBeUndefined();
  });

  it('an answer the vocabulary lacks is stored with a warning that reaches the run JSON', async () => {
    const run = await explained({ prompt: 'When is email support open?', answer: 'xyzzy support' });
    expect(run.tokens.ids.slice(run.promptLength)).toEqual([0, expect.any(Number)]);
    expect(run.warnings).toHaveLength(1);
    expect(run.warnings![0]).toMatch(/maps to the unknown token <unk> \(id 0\) at answer token 1 of 2/);
  });

  it("README's dataset example through a batch: \"9 to 5\" is \" 9\", \" to\", \" 5\"", async () => {
    const datasetText = JSON.stringify({ id: 'hours-1', system: 'Answer briefly.', messages: [{ role: 'user', content: '[DATA]Support is open 9 to 5.[/DATA] When is support open?' }], answer: '9 to 5' });
    await api.startBatch({ experiment: 'hours', datasetText, settings: { generation: { maxNewTokens: 2 }, methods: ['attention'], device: 'cpu' } });
    await api.idle();
    const [row] = (await api.listRuns({ experiment: 'hours' })).rows;
    const run = (await api.getRun(row.id))!;
    expect(run.status, run.error).toBe('done');
    expect(answerTexts(run)).toEqual([' 9', ' to', ' 5']);
    expect(run.warnings).toBeUndefined();
  });
});

describe('token ids outside the vocabulary', () => {
  it('createRun refuses input, answer and foil ids past the vocabulary before any run exists', async () => {
    const before = (await api.listRuns()).total;
    const llama = await fixtureFolder('llama');
    await expect(api.createRun(request({ inputIds: [1, 2, 99999999], prompt: undefined }))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/inputIds: token id 99999999 \(position 3\) is outside the model's vocabulary \(ids 0–\d+\)/),
    });
    await expect(api.createRun(request({ modelPath: llama, answerIds: [5, 32000] }))).rejects.toThrow(/answerIds: token id 32000 \(position 2\) .*ids 0–31999/);
    await expect(api.createRun(request({ modelPath: llama, answer: ' x', methods: ['saliency'], options: { target: 'contrastive', foilIds: [40000] } }))).rejects.toThrow(/foilIds: token id 40000/);
    expect((await api.listRuns()).total).toBe(before);
  });

  it('the pipeline (the CLI path) refuses them after loading the model and before creating the run row', async () => {
    const before = temp.store.listRuns().total;
    await expect(
      runExplanation(request({ inputIds: [1, 2, 99999999], prompt: undefined, answer: ' x' }), { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') }),
    ).rejects.toBeInstanceOf(TokenIdError);
    expect(temp.store.listRuns().total).toBe(before);
  });
});
