// Length-bucket benchmark (issue 12, "one program per model"): the same model explained at 1,024 tokens and then at
// 1,000 (a length never seen before), once with length buckets and once with a graph per exact shape (how every
// run went before). Each mode runs in a child process of its own with a fresh graph cache, so its peak RSS, the
// graphs it built and the bytes it wrote to the cache are its own; times are wall seconds of computeGradients (32
// saliency rows, 32-token answer), derivative-graph building included. `npm run bench -- buckets`.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
const benchHome = join(homedir(), '.cache', 'llm-explainer', 'bench');
/** llama h256 × 4 layers, vocabulary 32000: 20 M parameters (83 MB of float32 weights). */
const SPEC = { vocabSize: 32000, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4, numKvHeads: 2, maxPositions: 4096, seed: 20 };
const ANSWER = 32;
const LENGTHS = [1024, 1000];

export interface BucketRow {
  mode: string;
  tokens: number;
  seconds: number;
  /** Seconds ÷ the same mode's first run. */
  ratio: number;
  graphsBuilt: number;
  cacheWrittenMB: number;
  peakRssMB: number;
}

function folderBytes(path: string): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((sum, name) => sum + folderBytes(join(path, name)), 0);
}

async function modelPath(): Promise<string> {
  const folder = join(benchHome, 'llama-20M-buckets');
  const path = join(folder, 'model.onnx');
  if (existsSync(path)) return path;
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { encodeModel } = await import('../../main/engine/onnx/proto');
  const { writeFileSync } = await import('node:fs');
  mkdirSync(folder, { recursive: true });
  writeFileSync(`${path}.tmp`, encodeModel(buildLlamaModel(SPEC).model));
  renameSync(`${path}.tmp`, path);
  return path;
}

function tokenIds(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 1 : 100 + ((i * 7919) % 31800)));
}

async function child(path: string, buckets: boolean): Promise<void> {
  const { GradientProgram } = await import('../../main/engine/gradients/program');
  const { computeGradients } = await import('../../main/engine/gradients/compute');
  const cacheDir = join(benchHome, `buckets-cache-${process.pid}`);
  rmSync(cacheDir, { recursive: true, force: true });
  try {
    const program = await GradientProgram.open({ model: path, cacheDir, compact: true, lengthBuckets: buckets });
    const rows: Omit<BucketRow, 'ratio' | 'mode'>[] = [];
    for (const tokens of LENGTHS) {
      const before = { cache: folderBytes(cacheDir), built: program.statistics.built };
      const start = performance.now();
      await computeGradients({ program, ids: tokenIds(tokens), promptLength: tokens - ANSWER, methods: ['saliency'], config: { maxPositions: SPEC.maxPositions } });
      rows.push({
        tokens,
        seconds: (performance.now() - start) / 1000,
        graphsBuilt: program.statistics.built - before.built,
        cacheWrittenMB: (folderBytes(cacheDir) - before.cache) / 1e6,
        peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6,
      });
    }
    await program.release();
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

export async function benchBuckets(): Promise<BucketRow[]> {
  const path = await modelPath();
  const rows: BucketRow[] = [];
  for (const buckets of [true, false]) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'bucket-bench-child', path, String(buckets)], {
      cwd: root,
      maxBuffer: 1 << 20,
    });
    const measured = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<BucketRow, 'ratio' | 'mode'>[];
    // Both modes share the weights file: "exact shapes" shows what a rebuild per length costs in time and memory.
    const mode = buckets ? 'length buckets' : 'exact shapes';
    for (const row of measured) rows.push({ mode, ...row, ratio: row.seconds / measured[0].seconds });
  }
  return rows;
}

if (process.argv[2] === 'bucket-bench-child') {
  child(process.argv[3], process.argv[4] === 'true').then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
