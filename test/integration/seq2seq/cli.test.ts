// The built `llm-explainer explain` on encoder-decoder folders, as a user runs it: --prompt with a T5 task prefix,
// --input-ids / --answer-ids, --json output with the seq2seq fields, and one-line refusals with exit code 2.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunJson } from '../../../shared/run';
import { fixtureFolder } from '../../fixtures/models';
import { requireBuiltCli, runCli } from '../cli/cli-process';

let home: string;
let env: Record<string, string>;
beforeAll(() => {
  requireBuiltCli();
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-seq2seq-'));
  env = { LLM_EXPLAINER_DB: join(home, 'runs.db'), HOME: home, XDG_CONFIG_HOME: join(home, 'config') };
});

describe('explain on encoder-decoder folders', () => {
  it('--task translation --prompt renders the T5 prefix; --json holds source, decoder tokens and the three attentions', async () => {
    const out = join(home, 't5.json');
    const result = runCli(['explain', '--model', await fixtureFolder('t5'), '--task', 'translation', '--prompt', 'The house is wonderful.', '--max-new-tokens', '3', '--methods', 'attention,saliency', '--device', 'cpu', '--json', out], env);
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(readFileSync(out, 'utf8')) as RunJson;
    expect(run.source!.rendered).toBe('translate English to German: The house is wonderful.');
    expect(run.promptLength).toBe(1);
    expect(run.tokens.ids[0]).toBe(32000);
    expect(run.attention!.encoder!.data).toHaveLength(2);
    expect(run.attention!.cross!.data[1][3]).toHaveLength(run.tokens.ids.length - 1);
    expect(run.gradient!.source!.saliency![0]).toHaveLength(run.source!.ids.length);
  }, 180_000);

  it('--input-ids and --answer-ids give the source and the answer after the start token', async () => {
    const out = join(home, 'bart.json');
    const result = runCli(['explain', '--model', await fixtureFolder('bart'), '--task', 'summarization', '--input-ids', '0,7649,17664,2', '--answer-ids', '0,500,2', '--methods', 'attention', '--device', 'cpu', '--json', out], env);
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(readFileSync(out, 'utf8')) as RunJson;
    expect(run.source!.ids).toEqual([0, 7649, 17664, 2]);
    expect(run.tokens.ids).toEqual([2, 0, 500, 2]);
  }, 180_000);

  it('--target sequence and --raw-gradient on a seq2seq folder; a run over --memory-budget exits 2 with one line', async () => {
    const out = join(home, 'marian.json');
    const result = runCli(['explain', '--model', await fixtureFolder('marian'), '--input-ids', '450,4996,17354,2', '--answer-ids', '250,42,2', '--methods', 'saliency', '--target', 'sequence', '--raw-gradient', '--device', 'cpu', '--json', out], env);
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(readFileSync(out, 'utf8')) as RunJson;
    expect(run.gradient!.target).toBe('sequence');
    expect(run.gradient!.saliency).toHaveLength(1);
    expect(run.gradient!.raw).toHaveLength(1);
    expect(run.gradient!.source!.raw![0]).toHaveLength(4);
    const refused = runCli(['explain', '--model', await fixtureFolder('marian'), '--input-ids', '450,4996,17354,2', '--methods', 'attention', '--memory-budget', '1M', '--device', 'cpu'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n').at(-1)).toMatch(/^llm-explainer: the run needs about [\d.]+ MB \(estimated peak, \w+ stage, 4 source \+ 33 decoder tokens, attention\) but the memory budget is 1\.0 MB: use /);
  }, 180_000);

  it('a method seq2seq runs cannot use exits 2 with one line', async () => {
    const result = runCli(['explain', '--model', await fixtureFolder('marian'), '--prompt', 'Hello', '--methods', 'occlusion', '--device', 'cpu'], env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('llm-explainer: explain: occlusion is not available for encoder-decoder models yet: use --methods attention,saliency,grad_x_input,gradient,integrated_gradients');
  }, 180_000);
});
