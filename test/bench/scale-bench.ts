// Scale benchmark (issue 12): a llama-style ~200 M model at 1,024 tokens and at a length never built before, and a
// ~40 M one at 8,192 tokens, each explained by the real CLI in a child process of its own (test/fixtures/measured-cli.ts)
// next to the memory estimate it was admitted with. Configurations whose estimate exceeds the memory budget are
// reported as refused and not run: the estimate is what keeps this bench from taking the machine down.
// Models are built once with the project's builder into ~/.cache/llm-explainer/bench (~1 GB for the 200 M one); the
// runs' store and graph cache live there too, so "bytes written to the cache" is what each run added.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExplainRequest } from '../../shared/api';
import { formatBytes } from '../../shared/memory-estimate';
import type { RunJson } from '../../shared/run';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
export const benchHome = join(homedir(), '.cache', 'llm-explainer', 'bench');
const ANSWER = 32;
const METHODS = ['attention', 'saliency', 'grad_x_input'];

/**
 * PyTorch eager on this machine type, issue 12's figures for the 40 M model at 512 tokens: one forward and 32
 * backward passes (retain_graph), and IG with 64 steps. The target is ≤ 0.7× of each, end to end.
 */
const PYTORCH_MS = { saliency: 9750, ig64: 35400 } as const;

interface PlanItem {
  model: ModelName;
  tokens: number;
  methods: string[];
  /** Extra CLI flags (e.g. --ig-steps 64). */
  extra?: string[];
  /** PyTorch eager's time for the same work: the row gets wall ÷ PyTorch. */
  pytorchMs?: number;
  /** Run twice and report the second (graphs cached). */
  repeat?: boolean;
}

const MODELS = {
  '200M': { vocabSize: 32000, hiddenSize: 1024, intermediateSize: 2816, numLayers: 16, numHeads: 16, numKvHeads: 4, headDim: 64, maxPositions: 16384, seed: 200 },
  '40M': { vocabSize: 32000, hiddenSize: 512, intermediateSize: 1376, numLayers: 8, numHeads: 8, numKvHeads: 4, maxPositions: 16384, seed: 40 },
} as const;
type ModelName = keyof typeof MODELS;

export interface ScaleRow {
  model: string;
  tokens: number;
  methods: string;
  /** "measured", or "refused (estimate X GB)". */
  outcome: string;
  estimate: string;
  peakRss?: string;
  /**
   * Peak proportional memory (PSS), sampled by the bench every 250 ms from /proc: a page of the shared weights file
   * that several sessions map counts once here, once per mapping in RSS.
   */
  peakPss?: string;
  /** Estimate ÷ measured peak. */
  factor?: number;
  plainForwardMs?: number;
  /** Stage milliseconds ÷ the plain forward's, e.g. "load 3.1×, attention 1.4×". */
  stages?: string;
  cacheWritten?: string;
  /** Whole CLI process, start to exit, and its multiple of PyTorch eager's time for the same work (issue 12). */
  endToEnd?: string;
}

/** Builds the model folder once (in a child: the 200 M build holds its weights twice while encoding). */
export async function modelFolder(name: ModelName): Promise<string> {
  const folder = join(benchHome, `llama-${name}`);
  if (existsSync(join(folder, 'config.json'))) return folder;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'scale-bench-build', name, folder], { cwd: root, maxBuffer: 1 << 20 });
  return folder;
}

async function buildChild(name: ModelName, folder: string): Promise<void> {
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { writeModelFolder } = await import('../../main/engine/model-builder/folder');
  const { llama2Tokenizer } = await import('../../main/engine/model-builder/tokenizers');
  const temporary = `${folder}.tmp-${process.pid}`;
  await writeModelFolder(temporary, buildLlamaModel(MODELS[name]), await llama2Tokenizer());
  renameSync(temporary, folder);
}

/** Deterministic ids inside the vocabulary, past the special tokens. */
function tokenIds(count: number, offset: number): number[] {
  return Array.from({ length: count }, (_, i) => (i === 0 && offset === 0 ? 1 : 100 + ((i * 7919 + offset) % 31800)));
}

/** Bytes of the files under `path`, each file once: graph folders hard-link the model's one weights file. */
function folderBytes(path: string, seen = new Set<number>()): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) {
    if (seen.has(info.ino)) return 0;
    seen.add(info.ino);
    return info.size;
  }
  return readdirSync(path).reduce((sum, name) => sum + folderBytes(join(path, name), seen), 0);
}

/** Samples a process's PSS (bytes) until it exits; `peak()` is the largest seen. Linux only (else 0). */
export function pssSampler(pid: number | undefined): { peak: () => number; stop: () => void } {
  let peak = 0;
  const sample = () => {
    try {
      const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      peak = Math.max(peak, Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024);
    } catch {
      // exited, or no /proc
    }
  };
  const timer = setInterval(sample, 250);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

function availableBytes(): number {
  const line = readFileSync('/proc/meminfo', 'utf8').match(/MemAvailable:\s+(\d+) kB/);
  return line ? Number(line[1]) * 1024 : Infinity;
}

/** The machine is shared: wait until it has the memory the run is estimated to need (and at least 8 GB) free. */
async function waitForMemory(needed: number): Promise<void> {
  const wanted = Math.max(8e9, 1.2 * needed);
  while (availableBytes() < wanted) {
    console.error(`scale bench: ${formatBytes(availableBytes())} available, waiting for ${formatBytes(wanted)}`);
    await new Promise((done) => setTimeout(done, 30_000));
  }
}

/** A plain forward of each length with full logits, timed in a child (median of 3 after a warm-up). */
async function plainForwards(folder: string, lengths: number[]): Promise<Record<number, number>> {
  const { stdout } = await promisify(execFile)('nice', [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'scale-bench-forward', folder, lengths.join(',')], {
    cwd: root,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<number, number>;
}

async function forwardChild(folder: string, lengths: number[]): Promise<void> {
  const { createSession } = await import('../../main/engine/runtime');
  const { forwardFeeds } = await import('../../main/engine/attention/feeds');
  const session = await createSession(join(folder, 'onnx', 'model.onnx'), 'cpu');
  const result: Record<number, number> = {};
  for (const length of lengths) {
    const feeds = forwardFeeds(session, tokenIds(length, 0));
    const times: number[] = [];
    for (let repeat = 0; repeat < 4; repeat++) {
      const start = performance.now();
      await session.run(feeds, ['logits']);
      if (repeat > 0) times.push(performance.now() - start);
    }
    result[length] = times.sort((a, b) => a - b)[1];
  }
  await session.release();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** The request the CLI makes from the same flags (for the estimate and the refusal, before anything runs). */
export function request(folder: string, tokens: number, methods: string[], budget: number | undefined, answer = ANSWER): ExplainRequest {
  return {
    modelPath: folder,
    task: 'completion',
    inputIds: tokenIds(tokens - answer, 0),
    answerIds: tokenIds(answer, 5),
    generation: { maxNewTokens: answer },
    methods,
    device: 'cpu',
    memoryBudgetBytes: budget,
  };
}

/** A length of the 200 M model that no earlier bench run built (recorded in the bench folder). */
function neverBuiltLength(): number {
  const file = join(benchHome, 'lengths-built.json');
  const built: number[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
  let length = 1000;
  while (built.includes(length)) length--;
  writeFileSync(file, JSON.stringify([...built, length]));
  return length;
}

async function explainChild(
  name: string,
  folder: string,
  tokens: number,
  methods: string[],
  budget: number | undefined,
  answer = ANSWER,
  /** Another checkout of the project whose CLI to run (a "before" measurement); default this one. */
  tree = root,
  /** Config home (graph cache) of the run; default the bench's shared one. */
  home = join(benchHome, 'home'),
  extra: string[] = [],
): Promise<{ peak: number; peakPss: number; run: RunJson; cache: number; wallMs: number }> {
  const cacheFolder = join(home, 'LLM Explainer Workbench', 'cache');
  const before = folderBytes(cacheFolder);
  const json = join(benchHome, `run-${process.pid}.json`);
  const body = request(folder, tokens, methods, budget, answer);
  const args = ['--import', 'tsx', 'test/fixtures/measured-cli.ts', 'explain', '--model', folder, '--db', join(benchHome, 'runs.db'), '--json', json, '-q',
    '--input-ids', body.inputIds!.join(','), '--answer-ids', body.answerIds!.join(','), '--methods', methods.join(','), '--experiment', 'scale-bench', '--tag', name];
  if (budget !== undefined) args.push('--memory-budget', String(budget));
  args.push(...extra);
  const started = performance.now();
  // `nice` execs node: the child's pid is the CLI's.
  const child = promisify(execFile)('nice', [process.execPath, ...args], {
    cwd: tree,
    env: { ...process.env, XDG_CONFIG_HOME: home },
    maxBuffer: 1 << 26,
  });
  const sampler = pssSampler(child.child.pid);
  const { stderr } = await child.finally(() => sampler.stop());
  const wallMs = performance.now() - started;
  const run = JSON.parse(readFileSync(json, 'utf8')) as RunJson;
  rmSync(json, { force: true });
  return { peak: Number(/peak-rss-bytes (\d+)/.exec(stderr)![1]), peakPss: sampler.peak(), run, cache: folderBytes(cacheFolder) - before, wallMs };
}

/**
 * Runs the scale table. `budget`: bytes (`npm run bench -- scale --memory-budget 8G`); default the engine's own
 * (half of physical memory).
 */
export async function benchScale(budget?: number, models?: string[]): Promise<ScaleRow[]> {
  mkdirSync(benchHome, { recursive: true });
  const { readModelFolder } = await import('../../main/engine/model-folder');
  const { admitRun, defaultMemoryBudget } = await import('../../main/engine/memory-check');
  const limit = budget ?? defaultMemoryBudget();
  const second = neverBuiltLength();
  const plan: PlanItem[] = [
    { model: '200M', tokens: 1024, methods: METHODS },
    { model: '200M', tokens: 1024, methods: ['attention'] },
    { model: '200M', tokens: second, methods: METHODS },
    { model: '200M', tokens: second, methods: ['attention'] },
    { model: '40M', tokens: 8192, methods: METHODS },
    { model: '40M', tokens: 8192, methods: ['attention'] },
    { model: '40M', tokens: 512, methods: METHODS },
    // Issue 12's end-to-end comparison (process start to exit, session start-up included), a second run so that
    // graphs come from the cache as they do for every run but a model's first.
    { model: '40M', tokens: 512, methods: ['saliency'], pytorchMs: PYTORCH_MS.saliency, repeat: true },
    { model: '40M', tokens: 512, methods: ['integrated_gradients'], extra: ['--ig-steps', '64'], pytorchMs: PYTORCH_MS.ig64, repeat: true },
  ];
  const rows: ScaleRow[] = [];
  const forwards = new Map<string, Record<number, number>>();
  for (const item of plan.filter((p) => !models || models.includes(p.model))) {
    const folder = await modelFolder(item.model);
    const label = `${item.model} ${item.tokens} ${item.methods.join('+')}`;
    const base = { model: item.model, tokens: item.tokens, methods: [...item.methods, ...(item.extra ?? [])].join(', ') };
    // The estimate alone first (no budget), then the same comparison the CLI makes.
    const estimate = admitRun(await readModelFolder(folder), request(folder, item.tokens, item.methods, Number.MAX_SAFE_INTEGER)).estimate.peakBytes;
    if (estimate > limit) {
      rows.push({ ...base, outcome: `refused (estimate ${formatBytes(estimate)})`, estimate: formatBytes(estimate) });
      console.error(`scale bench: ${label}: refused, estimate ${formatBytes(estimate)} over the budget ${formatBytes(limit)}`);
      continue;
    }
    // The plain forwards of this model, once, at every length that will run.
    if (!forwards.has(item.model)) {
      const lengths = [...new Set(plan.filter((p) => p.model === item.model).map((p) => p.tokens))].filter((t) => t <= 2048);
      await waitForMemory(estimate);
      forwards.set(item.model, await plainForwards(folder, lengths));
      console.error(`scale bench: plain forwards of ${item.model} (ms): ${JSON.stringify(forwards.get(item.model))}`);
    }
    await waitForMemory(estimate);
    console.error(`scale bench: running ${label} (estimate ${formatBytes(estimate)})`);
    if (item.repeat) await explainChild(label, folder, item.tokens, item.methods, budget, ANSWER, root, undefined, item.extra);
    const { peak, peakPss, run, cache, wallMs } = await explainChild(label, folder, item.tokens, item.methods, budget, ANSWER, root, undefined, item.extra);
    const forward = forwards.get(item.model)![item.tokens];
    const stages = Object.entries(run.timings)
      .filter(([stage]) => stage !== 'store')
      .map(([stage, ms]) => `${stage} ${(ms / forward).toFixed(1)}×`)
      .join(', ');
    rows.push({
      ...base,
      outcome: 'measured',
      estimate: formatBytes(estimate),
      peakRss: formatBytes(peak),
      peakPss: formatBytes(peakPss),
      factor: Number((estimate / peak).toFixed(2)),
      plainForwardMs: Math.round(forward),
      stages,
      cacheWritten: formatBytes(cache),
      ...(item.pytorchMs ? { endToEnd: `${(wallMs / 1000).toFixed(1)} s, ${(wallMs / item.pytorchMs).toFixed(2)}× PyTorch eager (${item.pytorchMs / 1000} s)` } : {}),
    });
    // Each row as soon as it is measured: a long bench stopped half-way keeps what it measured.
    console.error(`scale bench: ${JSON.stringify(rows.at(-1))}`);
  }
  return rows;
}

/**
 * The 40 M model at one long length (`npm run bench -- scale-long --tokens 2048 --answer 8`): attention, saliency
 * and grad × input twice in a fresh graph cache (the first run at that length builds the derivative graphs, the second
 * finds them), next to the same runs by another checkout (`--before DIR`, e.g. an export of the commit before checkpointing) when given. Peak RSS
 * does not depend on the answer length once rows go one per reverse pass, so a short answer keeps it quick.
 */
export async function benchLong(tokens: number, answer: number, budget: number | undefined, before?: string): Promise<ScaleRow[]> {
  mkdirSync(benchHome, { recursive: true });
  const { readModelFolder } = await import('../../main/engine/model-folder');
  const { admitRun } = await import('../../main/engine/memory-check');
  const folder = await modelFolder('40M');
  const estimate = admitRun(await readModelFolder(folder), request(folder, tokens, METHODS, Number.MAX_SAFE_INTEGER, answer)).estimate.peakBytes;
  const rows: ScaleRow[] = [];
  // A plain forward of the same length (full logits) to divide stage times by; past 4,096 tokens its own [heads, T, T]
  // scores and full logits would make it the largest process of the bench, so stages are then given in seconds only.
  const forward = tokens <= 4096 ? (await plainForwards(folder, [tokens]))[tokens] : undefined;
  for (const [label, tree] of [...(before ? [['before', before]] : []), ['this checkout', root]]) {
    const home = join(benchHome, `long-${process.pid}-${rows.length}`);
    // The first run at the length builds the derivative graphs; the second finds them in the cache.
    for (const run of ['1st run', '2nd run']) {
      console.error(`scale bench: 40M ${tokens} tokens, ${label}, ${run}`);
      const measured = await explainChild(`40M ${tokens} ${label}`, folder, tokens, METHODS, budget ?? Number.MAX_SAFE_INTEGER, answer, tree, home);
      const multiple = (ms: number) => (forward ? ` (${(ms / forward).toFixed(1)}×)` : '');
      const stages = Object.entries(measured.run.timings).filter(([stage]) => stage !== 'store').map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(1)} s${multiple(ms)}`).join(', ');
      const outcome = `measured, ${label}, ${run}`;
      rows.push({ model: '40M', tokens, methods: `${METHODS.join(', ')} (${answer} rows)`, outcome, estimate: formatBytes(estimate), peakRss: formatBytes(measured.peak), factor: Number((estimate / measured.peak).toFixed(2)), plainForwardMs: forward && Math.round(forward), stages, cacheWritten: formatBytes(measured.cache) });
    }
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[2] === 'scale-bench-build') {
  buildChild(process.argv[3] as ModelName, process.argv[4]).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
if (process.argv[2] === 'scale-bench-forward') {
  forwardChild(process.argv[3], process.argv[4].split(',').map(Number)).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
