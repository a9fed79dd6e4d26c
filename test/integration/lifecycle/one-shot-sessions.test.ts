// Sessions of a one-shot run (issue 12): the CLI's `explain` runs one run and exits, so it closes each session after
// the last stage that uses it; `batch` keeps them warm for its next item. Seen from the kernel: every session maps the
// model's shared weights file (README "Weights once in memory"), and at each stage point the child reports its
// mappings from /proc/self/smaps (main/fault-injection.ts TEST_MEMORY_ENV). Real CLI children (tsx, no build), a
// fixture model from our builder, real store files.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_HOLD_ENV, TEST_MEMORY_ENV, type StageMemory } from '../../../main/fault-injection';
import { fixtureFolder } from '../../fixtures/models';

const root = resolve(__dirname, '..', '..', '..');
const PROMPT = 'Where is Paris? It is in';
const ANSWER = ' France, in Europe';
let home: string;
let model: string;

/** The CLI in a child; its memory report at every stage point, in order. */
function cli(args: string[]): { code: number | null; stderr: string; points: StageMemory[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), [TEST_MEMORY_ENV]: '1' };
  delete env.LLM_EXPLAINER_DB;
  delete env[TEST_HOLD_ENV];
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/measured-cli.ts', ...args], { cwd: root, env, encoding: 'utf8', timeout: 300_000 });
  const points = [...result.stderr.matchAll(/^llm-explainer-test-memory: (.*)$/gm)].map((match) => JSON.parse(match[1]) as StageMemory);
  return { code: result.status, stderr: result.stderr, points };
}

/** Mappings of weights files (external data) at each stage point, e.g. `['load 0', 'attention 0', …]`. */
function mappings(points: StageMemory[]): string[] {
  return points.map((point) => `${point.stage} ${point.weights.reduce((sum, file) => sum + file.mappings, 0)}`);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-one-shot-'));
  // A copy: no other test's process has this folder's graphs in its cache.
  model = join(home, 'llama');
  cpSync(await fixtureFolder('llama'), model, { recursive: true });
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('one-shot and warm processes', () => {
  it('explain closes each session after its last stage; batch keeps them mapped for the next item', () => {
    const methods = 'attention,saliency,grad_x_input';
    const explain = cli(['explain', '--model', model, '--task', 'completion', '--prompt', PROMPT, '--answer', ANSWER, '--methods', methods, '--db', join(home, 'one.db'), '--quiet']);
    expect(explain.code, explain.stderr).toBe(0);
    // load: nothing open yet. attention: the plain session is closed (the answer is supplied and no later stage runs
    // it). gradients: the attention session is closed. store: the gradient program's sessions are closed.
    expect(mappings(explain.points)).toEqual(['load 0', 'attention 0', 'gradients 0', 'store 0']);

    const dataset = join(home, 'items.jsonl');
    writeFileSync(dataset, ['a', 'b'].map((id) => JSON.stringify({ id, task: 'completion', prompt: PROMPT, answer: ANSWER })).join('\n') + '\n');
    const batch = cli(['batch', '--dataset', dataset, '--experiment', 'warm', '--model', model, '--methods', methods, '--db', join(home, 'batch.db'), '--quiet']);
    expect(batch.code, batch.stderr).toBe(0);
    const counts = mappings(batch.points).map((point) => Number(point.split(' ')[1]));
    expect(batch.points.map((point) => point.stage)).toEqual(['load', 'attention', 'gradients', 'store', 'load', 'attention', 'gradients', 'store']);
    // The first item opens the plain session (mapped at its attention point), then the attention session (still mapped
    // as gradients start), then the derivative sessions (still mapped as it is stored); the second item finds them all.
    expect(counts[1]).toBeGreaterThan(0);
    expect(counts[2]).toBeGreaterThan(counts[1]);
    expect(counts[3]).toBeGreaterThan(counts[2]);
    expect(counts.slice(4)).toEqual([counts[3], counts[3], counts[3], counts[3]]);
  });
});
