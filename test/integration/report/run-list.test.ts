// A report's runs list reads exactly like the app's: the static client summarizes an embedded run with the
// store's own excerpt rule (shared/run-excerpt), for every kind of input a run can have.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRunStore, type RunStore } from '../../../main/store/run-store';
import { summarizeRun } from '../../../shared/static-api';
import type { RunInput } from '../../../shared/run';
import { sampleRun } from '../store/helpers';

let dir: string;
let store: RunStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'run-list-'));
  store = openRunStore(join(dir, 'runs.db'));
});

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const long = 'Which of these  refunds\napply? '.repeat(12);
const INPUTS: [string, RunInput][] = [
  ['system prompt, then a question', { task: 'chat', system: 'Be terse.', messages: [{ role: 'user', content: 'When is phone support open?' }] }],
  ['several turns: the last user message', {
    task: 'chat',
    messages: [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer' },
      { role: 'user', content: 'the follow-up' },
    ],
  }],
  ['a long prompt with runs of white space', { task: 'completion', prompt: long }],
  ['exact ids: the decoded prompt', { task: 'completion', decodedPrompt: 'user:  [DATA]\nrefunds: within 30 days' }],
];

describe("a report's runs list", () => {
  it.each(INPUTS)('%s: the same prompt and answer excerpts as the stored list row', (_name, input) => {
    const id = store.createRun(sampleRun({ task: input.task, input }));
    store.completeRun(id, { patch: { answerText: `  ${long}`, tokens: { ids: [1, 2], text: ['a', 'b'], role: ['prompt', 'answer'] }, promptLength: 1 } });
    const row = store.listRuns({ limit: 1000 }).rows.find((summary) => summary.id === id)!;
    const shown = summarizeRun(store.getRun(id)!);
    expect(shown.promptExcerpt).toBe(row.promptExcerpt);
    expect(shown.answerExcerpt).toBe(row.answerExcerpt);
    expect(shown).toMatchObject({ id, modelName: row.modelName, task: row.task, experiment: row.experiment });
  });
});
