// `explain --assistant-model` as a user runs it: the built bin in a child process, a real SQLite file, the
// built-in demo model verified against a 2-layer cut of itself. The answer and the explanations must be those
// of a plain run; the run JSON and `show --json` must carry generation.assistant and tokens.drafted.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { demoAssistantFolder } from '../../fixtures/assistant-models';
import type { RunJson } from '../../../shared/run';
import { requireBuiltCli, runCli } from './cli-process';

const PROMPT = '[DATA]\nphone support: mon-fri 9am-5pm\nrefunds: within 30 days\nshipping: free over $50\n[/DATA]\nWhen is phone support open?';
const SYSTEM = 'You are a support desk assistant. Answer from the data.';
let home: string;
let db: string;
let assistantDir: string;

function cli(...args: string[]) {
  return runCli(args, { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), LLM_EXPLAINER_DB: join(home, 'env.db') });
}

function explain(name: string, ...extra: string[]): RunJson {
  const json = join(home, `${name}.json`);
  const out = cli('explain', '--system', SYSTEM, '--prompt', PROMPT, '--max-new-tokens', '16', '--methods', 'attention', '--db', db, '--json', json, '--quiet', ...extra);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(readFileSync(json, 'utf8')) as RunJson;
}

beforeAll(async () => {
  requireBuiltCli();
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-assisted-'));
  db = join(home, 'runs.db');
  assistantDir = await demoAssistantFolder(2);
});

describe('llm-explainer explain --assistant-model', () => {
  it('answers exactly as the plain run, records the drafts and reads them back from the store', () => {
    const plain = explain('plain');
    const assisted = explain('assisted', '--assistant-model', assistantDir, '--assistant-tokens', '3');
    expect(assisted.tokens.ids).toEqual(plain.tokens.ids);
    expect(assisted.answerText).toBe(plain.answerText);

    const record = assisted.generation.assistant!;
    expect(record.model.path).toBe(assistantDir);
    expect(record.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(record.draftTokens).toBe(3);
    expect(record.proposed).toBeGreaterThan(0);
    expect(record.accepted).toBeGreaterThan(0);
    expect(record.accepted).toBeLessThan(record.proposed);
    expect(record.acceptanceRate).toBeCloseTo(record.accepted / record.proposed, 12);
    expect(record.timing?.plainIdentical).toBe(true);
    expect(record.timing?.plainTokens).toBe(plain.tokens.ids.length - plain.promptLength);
    expect(Object.keys(assisted.timings)).toEqual(expect.arrayContaining(['load_assistant', 'generate', 'generate_plain']));
    expect(plain.generation.assistant).toBeUndefined();
    expect(plain.tokens.drafted).toBeUndefined();

    const answerLength = assisted.tokens.ids.length - assisted.promptLength;
    expect(assisted.tokens.drafted).toHaveLength(answerLength);
    expect(assisted.tokens.drafted!.filter(Boolean)).toHaveLength(record.accepted);
    expect(record.outcomes!.map((outcome) => outcome === 'accepted')).toEqual(assisted.tokens.drafted);

    // Explanations stay the main model's: the same attention as the plain run.
    const difference = Math.max(...assisted.attention!.mean.flatMap((row, r) => row.map((value, c) => Math.abs(value - plain.attention!.mean[r][c]))));
    expect(difference).toBeLessThan(1e-6);

    const shown = cli('show', assisted.id, '--db', db, '--json', '-');
    expect(shown.code, shown.stderr).toBe(0);
    const stored = JSON.parse(shown.stdout) as RunJson;
    expect(stored.generation.assistant).toEqual(record);
    expect(stored.tokens.drafted).toEqual(assisted.tokens.drafted);

    const summary = cli('show', assisted.id, '--db', db);
    expect(summary.code).toBe(0);
  });

  it('prints the acceptance in the summary', () => {
    const out = cli('explain', '--system', SYSTEM, '--prompt', PROMPT, '--max-new-tokens', '8', '--methods', 'attention', '--db', db, '--assistant-model', assistantDir, '--quiet');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^assist\s+demo-assistant-2: \d+\/\d+ drafts accepted \(\d+%\), \d+ main forwards; \d+ ms vs \d+ ms alone/m);
  });
});

describe('llm-explainer batch --assistant-model', () => {
  it('drafts with the assistant for every dataset item', () => {
    const dataset = join(home, 'items.jsonl');
    writeFileSync(dataset, [PROMPT, PROMPT.replace('When is phone support open?', 'What about refunds?')].map((prompt, index) => JSON.stringify({ id: `q${index}`, system: SYSTEM, prompt })).join('\n') + '\n');
    const json = join(home, 'batch.json');
    const out = cli('batch', '--dataset', dataset, '--experiment', 'assisted-batch', '--max-new-tokens', '12', '--methods', 'attention', '--assistant-model', assistantDir, '--db', db, '--json', json, '--quiet');
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8')) as { completed: { runId: string }[] };
    expect(result.completed).toHaveLength(2);
    for (const { runId } of result.completed) {
      const run = JSON.parse(cli('show', runId, '--db', db, '--json', '-').stdout) as RunJson;
      expect(run.generation.assistant?.draftTokens).toBe(5);
      expect(run.generation.assistant?.timing?.plainIdentical).toBe(true);
      expect(run.tokens.drafted).toHaveLength(run.tokens.ids.length - run.promptLength);
    }
  });
});

describe('llm-explainer explain --assistant-model, bad input', () => {
  it('refuses a model with other tokenizer files before loading anything: exit 2, one line naming both models', async () => {
    const llama = await fixtureFolder('llama');
    const gpt2 = await fixtureFolder('gpt2');
    const out = cli('explain', '--model', llama, '--assistant-model', gpt2, '--prompt', 'x', '--db', db);
    expect(out.code).toBe(2);
    const lines = out.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(llama);
    expect(lines[0]).toContain(gpt2);
    expect(lines[0]).toMatch(/different vocabulary.*tokenizer\.json differs/);
  });

  it.each([
    [['--assistant-tokens', '3'], /--assistant-tokens needs --assistant-model/],
    [['--assistant-model', '/nonexistent/draft'], /assistant model folder \/nonexistent\/draft does not exist/],
    [['--assistant-model', '/tmp', '--assistant-tokens', '0'], /--assistant-tokens must be/],
  ])('%j exits 2 with one clear line', (args, message) => {
    const out = cli('explain', '--prompt', 'x', '--db', db, ...(args as string[]));
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(message);
  });
});
