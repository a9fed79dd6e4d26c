// What a new user meets in the first minutes, through the built `llm-explainer` in child processes: help on
// every command, the version, no npm warnings on npx, an empty-store hint that really works on the demo model,
// progress lines with the time taken, and runs made from token ids that show their prompt.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELP_COMMANDS } from '../../../main/cli/help';
import type { RunJson, RunSummary } from '../../../shared/run';
import { ROOT as root, requireBuiltCli, runCli, runIdOf } from './cli-process';

let home: string;
let db: string;

function cli(...args: string[]) {
  return runCli(args, { HOME: home, LLM_EXPLAINER_DB: db });
}

function listed(...args: string[]): { total: number; rows: RunSummary[] } {
  const out = cli('runs', '--json', ...args);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout);
}

beforeAll(() => {
  requireBuiltCli();
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-finished-'));
  db = join(home, 'runs.db');
});

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('help and version', () => {
  it.each(HELP_COMMANDS)('`%s --help` prints that command\'s usage and what it does, exit 0', (command) => {
    for (const flag of ['--help', '-h']) {
      const out = cli(command, flag);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toBe('');
      expect(out.stdout).toMatch(new RegExp(`^Usage:\\n {2}llm-explainer ${command}\\b`));
      expect(out.stdout.split('\n\n')[1].length).toBeGreaterThan(20);
    }
    expect(cli('help', command).stdout).toBe(cli(command, '--help').stdout);
  });

  it('explain --help documents the view flags, and --help wins over other flags without running anything', () => {
    const out = cli('explain', '--prompt', 'Hi', '--methods', 'attention', '--help');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('[--view METHOD] [--answer-token N] [--words] [--color auto|always|never]');
    expect(out.stdout).toMatch(/--answer-token N +the answer token to explain, 0 = the first/);
    expect(existsSync(db)).toBe(false);
  });

  it('--version prints the package version', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    const out = cli('--version');
    expect(out).toEqual({ code: 0, stdout: `llm-explainer ${version}\n`, stderr: '' });
  });

  it('npx llm-explainer prints no npm warnings', () => {
    const result = spawnSync('npx', ['llm-explainer', '--version'], { cwd: root, encoding: 'utf8', env: { ...process.env, HOME: home } });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^llm-explainer \d+\.\d+\.\d+\n$/);
  });
});

describe('first minutes on the demo model', () => {
  let hinted: RunJson;

  it('the empty-store hint suggests a prompt the demo model answers', () => {
    const hint = cli('runs');
    expect(hint.code).toBe(0);
    const match = /^no runs yet — try: llm-explainer explain --prompt "([^"]+)"\n$/.exec(hint.stdout);
    expect(match, hint.stdout).not.toBeNull();
    const json = join(home, 'hinted.json');
    const out = cli('explain', '--prompt', match![1], '--json', json);
    expect(out.code, out.stderr).toBe(0);
    hinted = JSON.parse(readFileSync(json, 'utf8'));
    expect(hinted.answerText.trim()).toBe('email support: next business day');
    // Progress, piped: one line per stage with the time the run has taken so far.
    expect(out.stderr).toMatch(/^… loading model \(\d+\.\d s so far\)\n… generating \(\d+\.\d s so far\)\n… attention \(\d+\.\d s so far\)\n/);
  });

  it('a run made from token ids shows its decoded prompt in the list, in search and in its JSON', () => {
    const ids = hinted.tokens.ids.slice(0, hinted.promptLength);
    const out = cli('explain', '--input-ids', ids.join(','), '--methods', 'attention', '--tag', 'from-ids');
    expect(out.code, out.stderr).toBe(0);
    const id = runIdOf(out.stdout);
    const row = listed().rows.find((candidate) => candidate.id === id)!;
    expect(row.promptExcerpt).toContain('phone support: mon-fri 9am-6pm');
    expect(row.promptExcerpt).toContain('When is email support open?');
    expect(cli('runs').stdout).not.toContain('(empty prompt)');
    expect(listed('--search', 'When is email support').rows.map((found) => found.id)).toContain(id);
    const run = JSON.parse(cli('show', id, '--json', '-').stdout) as RunJson;
    expect(run.input.prompt).toBeUndefined();
    expect(run.input.decodedPrompt).toContain('[DATA]');
    expect(run.tokens.ids.slice(0, run.promptLength)).toEqual(ids);
  });
});
