// Bad flag values, as a user types them, to the built CLI in real processes: each exits 2 with one line that
// names the flag and what it accepts, before any model is loaded or any store file is created.
import { existsSync, readdirSync } from 'node:fs';
import { openRunStore } from '../../../main/store';
import { sampleRun } from '../store/helpers';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, root, runAll, runCli, tempHome } from './cli-child';

let home: string;
let db: string;
const dataset = join(root, 'test', 'fixtures', 'datasets', 'support.jsonl');
const long = 'x'.repeat(201);

beforeAll(() => {
  requireBuild();
  home = tempHome('llm-explainer-args-');
  db = join(home, 'never.db');
});

/**
 * [arguments, what stderr must say]; every one must exit 2. The cases, one process each; every other
 * flag of every command is checked the same way in-process (test/unit/cli/args.test.ts).
 */
const CASES: [string[], RegExp][] = [
  [['runs', '--limit', '-5'], /--limit must be an integer from 1 to 1000, got "-5"/],
  [['explain', '--prompt', 'hi', '--max-new-tokens', '-1'], /--max-new-tokens must be an integer from 1 to 8192, got "-1"/],
  [['explain', '--prompt', 'hi', '--max-new-tokens', '0x10'], /--max-new-tokens must be an integer from 1 to 8192, got "0x10"/],
  [['explain', '--prompt', 'hi', '--temperature', '-1'], /--temperature must be a number from 0 to 10, got "-1"/],
  [['explain', '--prompt', 'hi', '--seed', ''], /--seed needs a value; got an empty string/],
  [['explain', '--prompt', 'hi', '--experiment', long], /--experiment must be a name of 1 to 200 characters, got 201/],
  [['batch', '--dataset', dataset, '--experiment', long], /--experiment must be a name of 1 to 200 characters/],
  [['serve', '--port', '-1'], /--port must be an integer from 0 to 65535, got "-1"/],
];

describe('flag values', () => {
  it('refuse each bad value with exit 2 and one line naming the valid range, before opening the store or a model', async () => {
    const results = await runAll(CASES.map(([args]) => () => runCli(home, [...args, '--db', db])));
    results.forEach((result, i) => {
      const shown = CASES[i][0].join(' ');
      expect(result.code, `${shown}: ${result.stderr}`).toBe(2);
      expect(result.stderr, shown).toMatch(CASES[i][1]);
      expect(result.stderr.trimEnd().split('\n'), shown).toHaveLength(1);
      expect(result.stderr, shown).not.toMatch(/loading|argument is ambiguous/);
      expect(result.stdout, shown).toBe('');
    });
    expect(existsSync(db)).toBe(false);
    expect(readdirSync(home).filter((name) => name !== 'config')).toEqual([]);
  });

  it('refuses --db "" for every command that opens the store, and stores nothing', async () => {
    const commands = [['explain', '--prompt', 'hi', '--max-new-tokens', '1', '--methods', ''], ['runs'], ['serve', '--port', '0', '--no-open', '--no-demo']];
    const results = await runAll(commands.map((args) => () => runCli(home, [...args, '--db', ''])));
    results.forEach((result, i) => {
      expect(result.code, `${commands[i][0]}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/--db needs a value; got an empty string/);
      expect(result.stdout).not.toMatch(/^run r_/m);
    });
  });

  it('an empty LLM_EXPLAINER_DB falls back to the default store in the app-data folder', async () => {
    const fallbackHome = tempHome('llm-explainer-env-');
    const store = openRunStore(join(fallbackHome, 'config', 'LLM Explainer Workbench', 'runs.db'));
    const runId = store.createRun(sampleRun());
    store.close();
    const runs = await runCli(fallbackHome, ['runs'], { env: { LLM_EXPLAINER_DB: '' } });
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain(runId);
  });
});
