// The `llm-explainer` command as a user runs it: the built bin in a child process, a real SQLite file,
// real onnxruntime sessions on the built-in demo model and the fixture models.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { RUN_SCHEMA, type RunJson } from '../../../shared/run';
import { runCli } from './run-cli';

const root = resolve(__dirname, '..', '..', '..');
let home: string;
let db: string;

function cli(...args: string[]) {
  return runCli(home, ...args);
}

function runIdOf(stdout: string): string {
  const match = /^run (r_[0-9a-z]+)/m.exec(stdout);
  if (!match) throw new Error(`no run id in: ${stdout}`);
  return match[1];
}

beforeAll(() => {
  if (!existsSync(join(root, 'out', 'main', 'cli.js'))) throw new Error('build first: npm run build (npm test does it)');
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-cli-'));
  db = join(home, 'runs.db');
});

describe('llm-explainer explain / runs / show', () => {
  let runId: string;

  it('explains a prompt on the built-in demo model, stores the run and prints a summary', () => {
    const json = join(home, 'run.json');
    const out = cli('explain', '--prompt', 'When is phone support open?', '--max-new-tokens', '5', '--methods', 'attention', '--db', db, '--json', json);
    expect(out.code, out.stderr).toBe(0);
    runId = runIdOf(out.stdout);
    expect(out.stdout).toMatch(/answer\s+"/);
    expect(out.stdout).toMatch(/timings\s+load \d+ ms/);
    const run = JSON.parse(readFileSync(json, 'utf8')) as RunJson;
    expect(run.schema).toBe(RUN_SCHEMA);
    expect(run.id).toBe(runId);
    expect(run.model.architecture).toBe('llama');
    expect(run.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(run.tokens.ids.length).toBe(run.tokens.text.length);
    expect(run.tokens.role.filter((r) => r === 'answer').length).toBe(run.tokens.ids.length - run.promptLength);
    expect(run.generation.maxNewTokens).toBe(5);
    expect(run.device.requested).toBe('auto');
    expect(run.device.used).toBe('cpu');
    expect(Object.keys(run.timings)).toEqual(expect.arrayContaining(['load', 'generate', 'attention', 'store']));
    const answerRows = run.tokens.ids.length - run.promptLength;
    expect(run.attention!.data[0][0]).toHaveLength(answerRows);
    expect(run.attention!.data[0][0][0]).toHaveLength(run.tokens.ids.length);
  });

  it('lists the run newest first and shows it as the documented run JSON with encodings stated', () => {
    const listed = cli('runs', '--db', db);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(runId);
    const shown = cli('show', runId, '--db', db, '--json', '-');
    expect(shown.code, shown.stderr).toBe(0);
    const run = JSON.parse(shown.stdout) as RunJson;
    expect(run.schema).toBe(RUN_SCHEMA);
    expect(run.status).toBe('done');
    expect(run.attention!.encoding!.dtype).toBe('float16');
    expect(run.attention!.encoding!.maxRelError).toBeCloseTo(2 ** -11);
    const original = JSON.parse(readFileSync(join(home, 'run.json'), 'utf8')) as RunJson;
    const a = original.attention!.data.flat(3);
    const b = run.attention!.data.flat(3);
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11 + 2 ** -24);
  });

  it('teacher-forces a supplied answer and reproduces exact token ids', async () => {
    const model = await fixtureFolder('gpt2');
    const supplied = cli('explain', '--model', model, '--prompt', 'The capital of France is', '--task', 'completion', '--answer', ' Paris', '--methods', 'attention', '--db', db, '--json', join(home, 'a.json'));
    expect(supplied.code, supplied.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(home, 'a.json'), 'utf8')) as RunJson;
    expect(run.generation.supplied).toBe(true);
    expect(run.answerText).toBe(' Paris');
    expect(run.tokens.text.slice(run.promptLength).join('')).toBe(' Paris');

    const exact = cli('explain', '--model', model, '--input-ids', run.tokens.ids.slice(0, run.promptLength).join(','), '--answer-ids', run.tokens.ids.slice(run.promptLength).join(','), '--methods', 'attention', '--db', db, '--json', join(home, 'b.json'));
    expect(exact.code, exact.stderr).toBe(0);
    const again = JSON.parse(readFileSync(join(home, 'b.json'), 'utf8')) as RunJson;
    expect(again.tokens.ids).toEqual(run.tokens.ids);
    expect(again.attention!.mean).toEqual(run.attention!.mean);
  });

  it('takes chat messages from a file, with a system prompt', async () => {
    const messages = join(home, 'messages.json');
    writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'Hi there' }]));
    const out = cli('explain', '--model', await fixtureFolder('llama'), '--messages', messages, '--system', 'Be brief.', '--max-new-tokens', '3', '--methods', 'attention', '--db', db, '--json', join(home, 'c.json'));
    expect(out.code, out.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(home, 'c.json'), 'utf8')) as RunJson;
    expect(run.input.system).toBe('Be brief.');
    expect(run.tokens.text.join('')).toContain('Be brief.');
  });

  it('falls back to the CPU when the requested device is missing, and records why', async () => {
    const out = cli('explain', '--model', await fixtureFolder('llama'), '--prompt', 'Hi', '--max-new-tokens', '2', '--methods', 'attention', '--device', 'cuda', '--db', db, '--json', join(home, 'd.json'));
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/device\s+cpu \(fell back: /);
    const run = JSON.parse(readFileSync(join(home, 'd.json'), 'utf8')) as RunJson;
    expect(run.device).toMatchObject({ requested: 'cuda', used: 'cpu' });
    expect(run.device.fallbackReason).toMatch(/CUDA/);
  });

  it('uses --db over LLM_EXPLAINER_DB, and the variable when no flag is given', () => {
    const viaEnv = cli('runs', '--json');
    expect(viaEnv.code).toBe(0);
    expect(JSON.parse(viaEnv.stdout).total).toBe(0);
    expect(JSON.parse(cli('runs', '--db', db, '--json').stdout).total).toBeGreaterThanOrEqual(4);
  });
});

describe('llm-explainer explain with gradient methods, on every fixture architecture', () => {
  it.each(['llama', 'gpt2', 'llama-fused-gqa', 'llama-fused-mha', 'llama-fused-q4'] as const)('%s: attention and gradients in the run JSON', async (name) => {
    const file = join(home, `grad-${name}.json`);
    const out = cli('explain', '--model', await fixtureFolder(name), '--prompt', 'Tell me', '--max-new-tokens', '3',
      '--methods', 'attention,saliency,grad_x_input,integrated_gradients', '--ig-steps', '8', '--db', db, '--json', file);
    expect(out.code, out.stderr).toBe(0);
    const run = JSON.parse(readFileSync(file, 'utf8')) as RunJson;
    const rows = run.tokens.ids.length - run.promptLength;
    const T = run.tokens.ids.length;
    expect(run.gradient!.saliency).toHaveLength(rows);
    expect(run.gradient!.gradXInput![0]).toHaveLength(T);
    expect(run.gradient!.sequence!.saliency).toHaveLength(T);
    // Row t explains answer token t: nothing at or after its own position contributes.
    run.gradient!.saliency!.forEach((row, t) => row.slice(run.promptLength + t).forEach((v) => expect(v).toBe(0)));
    const ig = run.integratedGradients!;
    expect(ig.attributions).toHaveLength(T);
    expect(ig.baseline).toBe('pad');
    expect(Number.isFinite(ig.completenessError)).toBe(true);
    expect(Math.abs(ig.attributions.reduce((a, b) => a + b, 0) - ig.delta)).toBeCloseTo(ig.completenessError * Math.abs(ig.delta), 6);
    const shown = JSON.parse(cli('show', run.id, '--db', db, '--json', '-').stdout) as RunJson;
    expect(shown.gradient!.saliency).toEqual(run.gradient!.saliency);
    expect(shown.gradient!.encoding!.dtype).toBe('float32');
  });
});

describe('llm-explainer bad input', () => {
  it.each([
    [['explain', '--prompt', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['explain', '--prompt', 'x', '--max-new-tokens', 'many'], /--max-new-tokens must be an integer/],
    [['explain', '--prompt', 'x', '--device', 'tpu'], /--device must be one of auto, cpu, cuda, dml, coreml/],
    [['explain', '--prompt', 'x', '--methods', 'attention,magic'], /unknown "magic"/],
    [['explain'], /give --prompt TEXT, --messages FILE.json or --input-ids/],
    [['explain', '--prompt', 'x', '--answer-ids', '1,a'], /--answer-ids takes comma-separated token ids/],
    [['explain', '--prompt', 'x', '--target', 'contrastive'], /needs --foil/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['show'], /give exactly one run id/],
    [['report', 'r_1', '-o', 'x.html'], /report/],
  ])('%j exits 2 with one clear line', (args, message) => {
    const out = cli(...(args as string[]), '--db', db);
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(message);
  });

  it('an unknown run id exits 2 and names the database', () => {
    const out = cli('show', 'r_nope', '--db', db);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/no run "r_nope"/);
  });

  it('a bad model folder exits 1 with an actionable line and stores nothing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'not-a-model-'));
    const before = JSON.parse(cli('runs', '--db', db, '--json').stdout).total;
    const out = cli('explain', '--model', empty, '--prompt', 'x', '--db', db);
    expect(out.code).toBe(1);
    // Progress lines ("… loading model") may come first; the error itself is one line.
    const errors = out.stderr.trim().split('\n').filter((line) => line.startsWith('llm-explainer:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/config\.json/);
    expect(JSON.parse(cli('runs', '--db', db, '--json').stdout).total).toBe(before);
  });
});
