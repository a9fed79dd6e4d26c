// `llm-explainer explain` with supplied answers, exact ids and the integrated-gradients spacing, as a user runs
// it: the built bin in a child process, the built-in demo model, a real SQLite file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunJson } from '../../../shared/run';

const root = resolve(__dirname, '..', '..', '..');
const bin = join(root, 'bin', 'llm-explainer.js');
const PROMPT = '[DATA]\nphone support: mon-fri 9am-6pm\nemail support: next business day\n[/DATA]\nWhen is email support open?';
let home: string;
let db: string;

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args, '--db', db], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config') },
    timeout: 180_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const storedRuns = () => JSON.parse(cli('runs', '--json').stdout).total as number;

beforeAll(() => {
  if (!existsSync(join(root, 'out', 'main', 'cli.js'))) throw new Error('build first: npm run build (npm test does it)');
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-inputs-'));
  db = join(home, 'runs.db');
});

describe('explain: supplied answers on the demo model', () => {
  it('"email support: next business day" is stored with its first word, and no warning is printed', () => {
    const file = join(home, 'email.json');
    const out = cli('explain', '--prompt', PROMPT, '--answer', 'email support: next business day', '--methods', 'attention', '--json', file);
    expect(out.code, out.stderr).toBe(0);
    const run = JSON.parse(readFileSync(file, 'utf8')) as RunJson;
    expect(run.answerText).toBe(' email support: next business day');
    expect(run.tokens.text.slice(run.promptLength)).toEqual([' email', ' support:', ' next', ' business', ' day']);
    expect(out.stdout).not.toMatch(/WARNING/);
  });

  it('an answer outside the vocabulary prints a WARNING line and stores the warning', () => {
    const file = join(home, 'unk.json');
    const out = cli('explain', '--prompt', PROMPT, '--answer', 'xyzzy support', '--methods', 'attention', '--json', file);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^WARNING  The supplied answer maps to the unknown token <unk> \(id 0\) at answer token 1 of 2/m);
    expect((JSON.parse(readFileSync(file, 'utf8')) as RunJson).warnings).toHaveLength(1);
  });
});

describe('explain: token ids outside the vocabulary', () => {
  it.each([
    [['--input-ids', '1,2,99999999'], /^llm-explainer: explain: --input-ids: token id 99999999 \(position 3\) is outside the model's vocabulary \(ids 0–\d+\)$/],
    [['--prompt', 'When is phone support open?', '--answer-ids', '5,99999999'], /--answer-ids: token id 99999999 \(position 2\)/],
  ])('%j exits 2 with one line, before loading the model, and stores no run', (args, message) => {
    const before = storedRuns();
    // Without --quiet: a refusal after loading would print a progress line first.
    const out = cli('explain', ...(args as string[]), '--methods', 'attention');
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr.trim()).toMatch(message);
    expect(out.stderr).not.toMatch(/onnxruntime|Gather|loading model/i);
    expect(storedRuns()).toBe(before);
  });
});

describe('explain: integrated-gradients spacing', () => {
  it('an explicit rule without --ig-spacing states the default spacing on the IG line and in the run', () => {
    const file = join(home, 'ig-default.json');
    const out = cli('explain', '--prompt', PROMPT, '--answer', 'email support: next business day', '--methods', 'integrated_gradients',
      '--ig-rule', 'midpoint', '--ig-steps', '4', '--ig-baseline', 'zero', '--json', file);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^IG\s+4 steps, midpoint, geometric spacing \(the zero baseline's default; --ig-spacing uniform for Captum's points\), zero baseline/m);
    expect((JSON.parse(readFileSync(file, 'utf8')) as RunJson).integratedGradients).toMatchObject({ rule: 'midpoint', spacing: 'geometric', spacingDefaulted: true });
  });

  it('--ig-spacing uniform is used and recorded as asked; a bad value exits 2', () => {
    const file = join(home, 'ig-uniform.json');
    const out = cli('explain', '--prompt', PROMPT, '--answer', 'email support: next business day', '--methods', 'integrated_gradients',
      '--ig-rule', 'midpoint', '--ig-steps', '4', '--ig-baseline', 'zero', '--ig-spacing', 'uniform', '--json', file);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^IG\s+4 steps, midpoint, uniform spacing, zero baseline/m);
    expect((JSON.parse(readFileSync(file, 'utf8')) as RunJson).integratedGradients).toMatchObject({ spacing: 'uniform', spacingDefaulted: false });
    const bad = cli('explain', '--prompt', 'x', '--ig-spacing', 'log');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ig-spacing must be one of uniform, geometric/);
  });
});
