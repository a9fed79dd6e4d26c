// The memory estimate against real processes, and the refusals it drives. Peaks are measured in child processes
// running the real CLI (test/fixtures/measured-cli.ts: real sessions, real store, real derivative builds in a fresh
// cache), so the estimate is checked against what a user's run really takes. The refusal tests use a copy of the demo
// model whose ONNX file is garbage of the same size: had anything tried to open a session, the run would fail with
// "damaged" instead of being refused, and exit 1 instead of 2.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, TOKEN_HEADER } from '../../../shared/api';
import { formatBytes } from '../../../shared/memory-estimate';
import type { RunJson } from '../../../shared/run';
import { ensureDemoModel } from '../../../main/demo/demo-model';
import { buildLlamaModel, type LlamaSpec } from '../../../main/engine/model-builder/llama';
import { writeModelFolder } from '../../../main/engine/model-builder/folder';
import { llama2Tokenizer } from '../../../main/engine/model-builder/tokenizers';
import { createWorkbenchService } from '../../../main/service';
import { openRunStore } from '../../../main/store/run-store';
import { startWebServer } from '../../../main/web/server';

const root = resolve(__dirname, '..', '..', '..');
/** The estimate must lie within this factor of the measured peak, either way (README "What fits"). */
const FACTOR = 1.5;

let dir: string;
let demo: string;
let broken: string;

interface Measured {
  code: number;
  stderr: string;
  peakBytes: number;
  run?: RunJson;
  runsInStore: number;
}

/** Runs `explain` in a child with its own config home (fresh graph cache) and store; reads back its run JSON. */
async function explainInChild(name: string, args: string[]): Promise<Measured> {
  const home = join(dir, name);
  const db = join(home, 'runs.db');
  const json = join(home, 'run.json');
  const child = promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/measured-cli.ts', 'explain', '--db', db, '--json', json, '-q', ...args], {
    cwd: root,
    env: { ...process.env, XDG_CONFIG_HOME: home },
    maxBuffer: 1 << 24,
  });
  const { code, stderr } = await child.then(
    (out) => ({ code: 0, stderr: out.stderr }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
  const store = existsSync(db) ? openRunStore(db) : undefined;
  const runsInStore = store?.listRuns({}).total ?? 0;
  store?.close();
  return {
    code,
    stderr,
    peakBytes: Number(/peak-rss-bytes (\d+)/.exec(stderr)?.[1]),
    run: existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as RunJson) : undefined,
    runsInStore,
  };
}

const ids = (count: number, offset = 0) => Array.from({ length: count }, (_, i) => (i === 0 && offset === 0 ? 1 : 100 + ((i * 7919 + offset) % 400))).join(',');

const LLAMA_9M: LlamaSpec = { vocabSize: 32000, hiddenSize: 128, intermediateSize: 344, numLayers: 4, numHeads: 4, numKvHeads: 2, maxPositions: 4096, seed: 3 };

async function llamaFolder(name: string, spec: LlamaSpec): Promise<string> {
  const folder = join(dir, name);
  await writeModelFolder(folder, buildLlamaModel(spec), await llama2Tokenizer());
  return folder;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memory-estimate-'));
  demo = await ensureDemoModel(join(dir, 'demo'));
  broken = join(dir, 'broken-demo');
  cpSync(demo, broken, { recursive: true });
  const onnx = join(broken, 'onnx', 'model.onnx');
  writeFileSync(onnx, Buffer.alloc(statSync(onnx).size, 7));
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('memory estimate against measured peak RSS (child processes, real sessions)', () => {
  // Three model sizes, each exercising another part of the rule: gradient rows on the 1 M demo model, attention with
  // full logits on a 9 M model at 1,024 tokens, saliency rows (saved probabilities, derivative build) on a 20 M one.
  const cases: { name: string; model: () => Promise<string>; tokens: number; answer: number; methods: string }[] = [
    { name: 'demo (1 M), 480 tokens, attention + saliency + grad × input', model: async () => demo, tokens: 480, answer: 8, methods: 'attention,saliency,grad_x_input' },
    {
      name: 'llama h128 × 4 layers (9 M), 1,024 tokens, attention',
      model: () => llamaFolder('llama-9m', LLAMA_9M),
      tokens: 1024,
      answer: 8,
      methods: 'attention',
    },
    {
      name: 'llama h256 × 4 layers (20 M), 384 tokens, saliency',
      model: () => llamaFolder('llama-20m', { vocabSize: 32000, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, maxPositions: 4096, seed: 4 }),
      tokens: 384,
      answer: 4,
      methods: 'saliency',
    },
    // Forward-only methods (shared/memory-estimate-forward.ts): batched edited sequences, and value zeroing's copies.
    { name: 'llama h128 × 4 layers (9 M), 256 tokens, occlusion + faithfulness', model: () => llamaFolder('llama-9m', LLAMA_9M), tokens: 256, answer: 8, methods: 'occlusion,faithfulness' },
    { name: 'llama h128 × 4 layers (9 M), 64 tokens, value zeroing', model: () => llamaFolder('llama-9m', LLAMA_9M), tokens: 64, answer: 8, methods: 'value_zeroing' },
  ];
  it.each(cases)(`$name: estimate within ${FACTOR}× of the measured peak`, async ({ name, model, tokens, answer, methods }) => {
    const folder = await model();
    const measured = await explainInChild(name.split(' ')[0] + tokens, [
      '--model', folder, '--input-ids', ids(tokens - answer), '--answer-ids', ids(answer, 5), '--methods', methods,
    ]);
    expect(measured.code, measured.stderr).toBe(0);
    const memory = measured.run!.memory!;
    expect(measured.peakBytes).toBeGreaterThan(100e6);
    expect(measured.peakBytes).toBeLessThan(1.5e9);
    const ratio = memory.estimateBytes / measured.peakBytes;
    // Printed for the README's table of factors.
    console.log(`${name}: estimate ${formatBytes(memory.estimateBytes)}, measured ${formatBytes(measured.peakBytes)}, ratio ${ratio.toFixed(2)}`);
    expect(ratio).toBeGreaterThan(1 / FACTOR);
    expect(ratio).toBeLessThan(FACTOR);
    // The run records what it was admitted with, next to the peak its process reached.
    expect(memory.budgetBytes).toBeGreaterThan(memory.estimateBytes);
    expect(memory.peakRssBytes).toBeGreaterThan(0);
  }, 120_000);
});

describe('refusals come before any run row and any session', () => {
  it('refuses a sequence longer than max_position_embeddings, naming the limit (exit 2)', async () => {
    const measured = await explainInChild('context', ['--model', broken, '--input-ids', ids(600), '--methods', 'attention']);
    expect(measured.code).toBe(2);
    expect(measured.stderr).toContain("the model's max_position_embeddings is 512");
    expect(measured.stderr).toContain('632 tokens (600 prompt + up to 32 new)');
    expect(measured.stderr).not.toMatch(/damaged|empty/);
    expect(measured.runsInStore).toBe(0);
  }, 60_000);

  it('refuses a run whose estimate exceeds --memory-budget, in one line naming estimate, budget and what to change', async () => {
    const measured = await explainInChild('budget', ['--model', broken, '--input-ids', ids(400), '--answer-ids', ids(8, 5), '--methods', 'attention,saliency,integrated_gradients', '--memory-budget', '50M']);
    expect(measured.code).toBe(2);
    const line = measured.stderr.split('\n').find((l) => l.startsWith('llm-explainer:'))!;
    expect(line).toMatch(/needs about [\d.]+ [MG]B \(estimated peak, gradients stage, 408 tokens.*\) but the memory budget is 50 MB: use fewer methods .*fewer IG steps.*shorter input/);
    expect(measured.stderr).not.toMatch(/damaged/);
    expect(measured.runsInStore).toBe(0);
  }, 60_000);

  it.each([
    ['value_zeroing', 'value_zeroing', 'value_zeroing'],
    ['occlusion,faithfulness', 'perturbation', 'occlusion, faithfulness'],
  ])('refuses an over-budget %s run (its batch of 1 does not fit) before any session loads, naming its stage', async (methods, stage, drop) => {
    const measured = await explainInChild(`budget-${stage}`, ['--model', broken, '--input-ids', ids(400), '--answer-ids', ids(8, 5), '--methods', methods, '--memory-budget', '370M']);
    expect(measured.code).toBe(2);
    const line = measured.stderr.split('\n').find((l) => l.startsWith('llm-explainer:'))!;
    expect(line).toMatch(new RegExp(`needs about [\\d.]+ MB \\(estimated peak, ${stage} stage, 408 tokens, ${methods.replace(',', ', ')}\\) but the memory budget is 370 MB: use fewer methods \\(drop ${drop}\\), a shorter input`));
    expect(measured.stderr).not.toMatch(/damaged/);
    expect(measured.runsInStore).toBe(0);
  }, 60_000);

  it('the API refuses with too_large (HTTP 422) before queueing, and no run row is written', async () => {
    const store = openRunStore(join(dir, 'api.db'));
    const service = createWorkbenchService({
      store,
      runJob: async () => {
        throw new Error('no job may start');
      },
      demoModel: async () => broken,
      databasePath: join(dir, 'api.db'),
      mode: 'web',
      version: 'test',
    });
    try {
      const request = { task: 'completion' as const, inputIds: [1, 100, 101], answerIds: [102], generation: { maxNewTokens: 1 }, methods: ['saliency'], device: 'cpu' as const };
      const refused = await service.createRun({ ...request, memoryBudgetBytes: 1e6 }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiError);
      expect((refused as ApiError).code).toBe('too_large');
      expect((refused as ApiError).message).toMatch(/but the memory budget is 1\.0 MB/);
      const tooLong = await service.createRun({ ...request, inputIds: Array.from({ length: 520 }, () => 100) }).catch((error: unknown) => error);
      expect((tooLong as ApiError).code).toBe('too_large');
      expect((tooLong as ApiError).message).toContain('max_position_embeddings is 512');
      // Over HTTP (web mode) the refusal is a 4xx: the request must change, retrying will not help.
      const rendererDir = join(dir, 'renderer');
      mkdirSync(rendererDir, { recursive: true });
      writeFileSync(join(rendererDir, 'index.html'), '<!doctype html>');
      const server = await startWebServer({ service, port: 0, rendererDir });
      try {
        const response = await fetch(`${server.url}/api/createRun`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [TOKEN_HEADER]: server.token },
          body: JSON.stringify({ args: [{ ...request, memoryBudgetBytes: 1e6 }] }),
        });
        expect(response.status).toBe(422);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('too_large');
      } finally {
        await server.close();
      }
      expect(store.listRuns({}).total).toBe(0);
      expect(await service.listJobs()).toEqual([]);
    } finally {
      await service.close();
      store.close();
    }
  }, 60_000);
});
