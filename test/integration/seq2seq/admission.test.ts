// Admission of encoder-decoder runs: sources and decoder sequences over the model's positions and estimates over the
// memory budget are refused in one line before any run row and any session (a copy of the fixture whose ONNX files are
// garbage of the same size would fail with "could not be read" had a session opened), and the estimate lies within
// 1.5× of the peak RSS of a real CLI run in a child process.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { formatBytes } from '../../../shared/memory-estimate';
import { runExplanation } from '../../../main/service/pipeline';
import { refusalOf, RunTooLargeError } from '../../../main/engine/memory-check';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';

const root = resolve(__dirname, '..', '..', '..');
let temp: TempStore;
let dir: string;
const broken: Record<string, string> = {};

/** A copy of a fixture whose ONNX files are garbage of the same size. */
function brokenCopy(folder: string, name: string): string {
  const copy = join(dir, name);
  cpSync(folder, copy, { recursive: true });
  for (const file of readdirSync(join(copy, 'onnx'))) writeFileSync(join(copy, 'onnx', file), Buffer.alloc(statSync(join(copy, 'onnx', file)).size, 7));
  return copy;
}

beforeAll(async () => {
  temp = tempStore();
  dir = mkdtempSync(join(tmpdir(), 'seq2seq-admission-'));
  broken.marian = brokenCopy(await fixtureFolder('marian'), 'marian');
  broken.t5 = brokenCopy(await fixtureFolder('t5'), 't5');
}, 60_000);
afterAll(() => {
  temp?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(family: 'marian' | 't5', overrides: Partial<ExplainRequest>): Promise<RunTooLargeError> {
  const request: ExplainRequest = { modelPath: broken[family], task: 'translation', prompt: 'Hello', generation: { maxNewTokens: 4 }, methods: ['attention'], device: 'cpu', ...overrides };
  const error = await runExplanation(request, { store: temp.store, cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo') }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunTooLargeError);
  // The service refuses the same request before queueing it.
  expect(await refusalOf(broken[family], request)).toBe((error as Error).message);
  return error as RunTooLargeError;
}

const ids = (count: number) => Array.from({ length: count }, (_, i) => (i === count - 1 ? 2 : 100 + ((i * 7919) % 20000)));

describe('seq2seq admission', () => {
  it('refuses a source longer than max_position_embeddings (Marian: 64)', async () => {
    const error = await refusal('marian', { inputIds: ids(80) });
    expect(error.reason).toBe('context');
    expect(error.message).toBe("the source is 80 tokens but the model's max_position_embeddings is 64: shorten the input");
  });

  it('refuses a decoder sequence over the limit: supplied answers and --max-new-tokens', async () => {
    const supplied = await refusal('marian', { answerIds: ids(70) });
    expect(supplied.message).toBe("the decoder sequence is 71 tokens (the start token + 70 answer) but the model's max_position_embeddings is 64: shorten the answer");
    const generated = await refusal('marian', { generation: { maxNewTokens: 64 } });
    expect(generated.message).toBe("the decoder sequence is 65 tokens (the start token + up to 64 new) but the model's max_position_embeddings is 64: lower --max-new-tokens");
  });

  it('refuses an estimate over the memory budget in one line naming estimate, budget and what to change', async () => {
    const error = await refusal('t5', { inputIds: ids(300), answerIds: ids(6), methods: ['attention', 'saliency'], memoryBudgetBytes: 50e6 });
    expect(error.reason).toBe('memory');
    expect(error.message).toMatch(/^the run needs about [\d.]+ MB \(estimated peak, (attention|gradients) stage, 300 source \+ 7 decoder tokens, attention, saliency\) but the memory budget is 50 MB: use .*a shorter source, --memory-budget SIZE if the machine has more to spare$/);
    expect(error.message.split('\n')).toHaveLength(1);
    // T5 states no positions limit: a long source alone is not refused.
    expect(await refusalOf(broken.t5, { modelPath: broken.t5, task: 'translation', inputIds: ids(2000), generation: { maxNewTokens: 4 }, methods: ['saliency'], device: 'cpu' })).toBeUndefined();
    expect(temp.store.listRuns({}).total).toBe(0);
  });

  it('the estimate lies within 1.5× of the peak RSS of a CLI run (T5 fixture, 512-token source, attention)', async () => {
    const home = join(dir, 'measured');
    const json = join(home, 'run.json');
    const args = ['--import', 'tsx', 'test/fixtures/measured-cli.ts', 'explain', '--db', join(home, 'runs.db'), '--json', json, '-q'];
    const run = ['--model', await fixtureFolder('t5'), '--input-ids', ids(512).join(','), '--answer-ids', '250,3000,42,77,99,5,6,2', '--methods', 'attention', '--device', 'cpu'];
    const { stderr } = await promisify(execFile)(process.execPath, [...args, ...run], { cwd: root, env: { ...process.env, XDG_CONFIG_HOME: home }, maxBuffer: 1 << 24 });
    const peak = Number(/peak-rss-bytes (\d+)/.exec(stderr)?.[1]);
    const memory = (JSON.parse(readFileSync(json, 'utf8')) as RunJson).memory!;
    const ratio = memory.estimateBytes / peak;
    console.log(`seq2seq T5 fixture, 512 source + 9 decoder tokens, attention: estimate ${formatBytes(memory.estimateBytes)}, measured ${formatBytes(peak)}, ratio ${ratio.toFixed(2)}`);
    expect(memory.estimateStage).toBe('attention');
    expect(peak).toBeGreaterThan(100e6);
    expect(ratio).toBeGreaterThan(1 / 1.5);
    expect(ratio).toBeLessThan(1.5);
  }, 180_000);
});
