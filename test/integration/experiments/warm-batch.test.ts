// `batch` and `rerun` as the CLI runs them (in this process, through the service's batch runner): the model folder and the attention
// session are loaded for the first item only and stay warm for the rest, also across a batch and a rerun on the same
// model. Fresh copies of the fixture folders, so no earlier test in this process has them open.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunStore } from '../../../main/store/run-store';
import { fixtureFolder } from '../../fixtures/models';
import { openCliDoor } from './cli-door';

let dir: string;
let door: ReturnType<typeof openCliDoor>;
let store: RunStore;
let llama: string;
let gpt2: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warm-batch-'));
  door = openCliDoor(dir);
  store = door.store;
  llama = join(dir, 'llama');
  gpt2 = join(dir, 'gpt2');
  cpSync(await fixtureFolder('llama'), llama, { recursive: true });
  cpSync(await fixtureFolder('gpt2'), gpt2, { recursive: true });
});

afterAll(async () => {
  await door.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('batch and rerun keep sessions across items', () => {
  it('loads the model once per batch and once per rerun model', async () => {
    const context = {};
    const dataset = ['Where is Paris?', 'Where is Rome?', 'Where is Oslo?'].map((prompt, index) => JSON.stringify({ id: index, prompt, answer: ' In Europe' })).join('\n');
    const { runBatch, rerunExperiment } = door;
    const batch = await runBatch(dataset, {
      ...context,
      experiment: 'warm',
      settings: { modelPath: llama, generation: { maxNewTokens: 4 }, methods: ['attention'], device: 'cpu' },
    });
    expect(batch.failed).toEqual([]);
    const sessionsOf = (ids: string[]) => ids.map((id) => store.getRun(id)!.sessions);
    expect(sessionsOf(batch.completed.map((item) => item.runId))).toEqual([
      { model: 'cold', attention: 'cold' },
      { model: 'warm', attention: 'warm' },
      { model: 'warm', attention: 'warm' },
    ]);
    const rerun = await rerunExperiment('warm', { ...context, modelPath: gpt2 });
    expect(rerun.failed).toEqual([]);
    expect(sessionsOf(rerun.completed.map((item) => item.runId)).map((sessions) => sessions?.model)).toEqual(['cold', 'warm', 'warm']);
    // The batch's model stayed warm while the rerun ran on another.
    const again = await rerunExperiment('warm', { ...context, modelPath: llama, to: 'warm-again' });
    expect(sessionsOf(again.completed.map((item) => item.runId)).map((sessions) => sessions?.model)).toEqual(['warm', 'warm', 'warm']);
  });
});
