// Gradient benchmark (issue 4): one plain forward pass vs 32 saliency rows vs integrated gradients with 64
// steps, at T = 512 with a 32-token answer, as multiples of one plain forward of the same sequence.
// Timing: one child process per measurement alternates plain forwards and gradient calls (F G F G … F), and each
// gradient call is divided by the mean of the forwards on either side of it; the ratio is the median of those. This
// machine's speed drifts by 10–40% within minutes, so forwards timed in other processes, minutes apart, moved the
// ratios by as much. Memory: a separate child makes one gradient call alone, so its peak RSS holds no plain session.
// Derivative graphs are built (and cached on disk) by a preparation child first: the other children load them.
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface Row {
  model: string;
  measurement: string;
  /** Median wall time of the timed repeats, seconds. */
  seconds: number;
  /** Multiple of one plain forward of the same model and sequence. */
  ratio: number;
  /** Peak resident memory of the measuring process, MB (model and session included). */
  peakMemoryMB: number;
  note?: string;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
const cacheDir = join(root, '.cache', 'bench', 'gradients');
const SEQUENCE = 512;
const ANSWER = 32;

interface ChildRequest {
  /** `*-memory`: one gradient call, for peak RSS. `rows`/`ig`: forwards and gradient calls alternated. */
  kind: 'rows' | 'ig' | 'rows-memory' | 'ig-memory' | 'forward-memory' | 'prepare';
  model: string;
  /** Vocabulary size (the sequence's ids stay inside it). */
  vocab: number;
  repeats: number;
  steps?: number;
}

interface ChildReport {
  /** Gradient calls, seconds. */
  seconds: number[];
  /** Plain forwards, seconds: one before each gradient call and one after the last. */
  forwardSeconds: number[];
  peakMemoryMB: number;
  note?: string;
}

/** Token ids of the benchmark sequence (deterministic, inside the model's vocabulary, past its special tokens). */
function sequence(vocab: number): number[] {
  const first = Math.min(100, Math.floor(vocab / 8));
  return Array.from({ length: SEQUENCE }, (_, i) => (i === 0 ? 1 : first + ((i * 7919) % (vocab - first))));
}

async function runChild(request: ChildRequest): Promise<ChildReport> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'gradient-bench-child', JSON.stringify(request)], {
    cwd: root,
    maxBuffer: 1 << 20,
    env: { ...process.env },
  });
  const line = stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as ChildReport;
}

/** The ~40M-parameter random llama-style model (hidden 512, 8 layers, vocab 32000), written once. */
export async function benchModel(): Promise<string> {
  const file = join(cacheDir, 'llama-40m', 'model.onnx');
  if (await stat(file).then(() => true, () => false)) return file;
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { encodeModel } = await import('../../main/engine/onnx/proto');
  const built = buildLlamaModel({ vocabSize: 32000, hiddenSize: 512, intermediateSize: 1376, numLayers: 8, numHeads: 8, numKvHeads: 4, seed: 40 });
  await mkdir(join(cacheDir, 'llama-40m'), { recursive: true });
  await writeFile(file, encodeModel(built.model));
  return file;
}

/** Runs the benchmark and returns one row per (model, measurement). */
export async function benchGradients(): Promise<Row[]> {
  const { committedDemoFolder } = await import('../../main/demo/demo-model');
  const demoFolder = committedDemoFolder();
  if (!demoFolder) throw new Error('No committed demo model (models/demo) found');
  const demoConfig = JSON.parse(await readFile(join(demoFolder, 'config.json'), 'utf8')) as { vocab_size: number; hidden_size: number; num_hidden_layers: number };
  const models: [string, string, number][] = [
    [`demo (trained; hidden ${demoConfig.hidden_size}, ${demoConfig.num_hidden_layers} layers, vocab ${demoConfig.vocab_size})`, join(demoFolder, 'onnx', 'model.onnx'), demoConfig.vocab_size],
    ['llama h512, 8 layers, vocab 32000 (56 M)', await benchModel(), 32000],
  ];
  const rows: Row[] = [];
  for (const [name, model, vocab] of models) {
    await runChild({ kind: 'prepare', model, vocab, repeats: 0 });
    const saliency = await runChild({ kind: 'rows', model, vocab, repeats: 5 });
    const ig = await runChild({ kind: 'ig', model, vocab, repeats: 3, steps: 64 });
    const saliencyMemory = await runChild({ kind: 'rows-memory', model, vocab, repeats: 1 });
    const igMemory = await runChild({ kind: 'ig-memory', model, vocab, repeats: 1, steps: 64 });
    const forwardMemory = await runChild({ kind: 'forward-memory', model, vocab, repeats: 1 });
    const forwards = [...saliency.forwardSeconds, ...ig.forwardSeconds];
    const row = (measurement: string, report: ChildReport, memory: ChildReport): Row => ({
      model: name,
      measurement,
      seconds: median(report.seconds),
      ratio: median(report.seconds.map((g, i) => g / ((report.forwardSeconds[i] + report.forwardSeconds[i + 1]) / 2))),
      peakMemoryMB: memory.peakMemoryMB,
      note: report.note,
    });
    rows.push(
      { model: name, measurement: 'plain forward (full logits)', seconds: median(forwards), ratio: 1, peakMemoryMB: forwardMemory.peakMemoryMB },
      row(`${ANSWER} saliency rows (+ grad×input)`, saliency, saliencyMemory),
      row('integrated gradients, 64 steps', ig, igMemory),
    );
  }
  return rows;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A plain forward of the whole sequence with full logits, as a workbench runs it. */
async function plainForward(model: string, ids: number[]): Promise<() => Promise<void>> {
  const { createSession, emptyTensor, int64Tensor } = await import('../../main/engine/runtime');
  const session = await createSession(model, 'cpu');
  const feeds: Record<string, ReturnType<typeof int64Tensor>> = {};
  for (const input of session.inputs) {
    if (input.name === 'input_ids') feeds[input.name] = int64Tensor(ids, [1, SEQUENCE]);
    else if (input.name === 'attention_mask') feeds[input.name] = int64Tensor(ids.map(() => 1), [1, SEQUENCE]);
    else if (input.name === 'position_ids') feeds[input.name] = int64Tensor(ids.map((_, i) => i), [1, SEQUENCE]);
    else feeds[input.name] = emptyTensor('float32', input.shape!.map((d, axis) => (axis === 0 ? 1 : axis === 2 ? 0 : Number(d))));
  }
  return async () => {
    await session.run(feeds, ['logits']);
  };
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return (performance.now() - start) / 1000;
}

/** Child side: one measurement, reported as one JSON line. */
async function child(request: ChildRequest): Promise<void> {
  const { computeGradients, openGradientProgram } = await import('../../main/engine/gradients/compute');
  const ids = sequence(request.vocab);
  const promptLength = SEQUENCE - ANSWER;
  const seconds: number[] = [];
  const forwardSeconds: number[] = [];
  let note: string | undefined;
  if (request.kind === 'forward-memory') {
    await (await plainForward(request.model, ids))();
  } else {
    const program = await openGradientProgram(request.model, 'cpu', cacheDir);
    const options = { program, ids, promptLength, config: { unkTokenId: 0 } };
    const kind = request.kind.startsWith('rows') ? 'rows' : 'ig';
    const call = async () => {
      const result =
        kind === 'rows'
          ? await computeGradients({ ...options, methods: ['saliency', 'grad_x_input'] })
          : await computeGradients({ ...options, methods: ['integrated_gradients'], ig: { steps: request.steps ?? 64 } });
      if (result.integratedGradients) note = `completeness error ${(100 * result.integratedGradients.completenessError).toFixed(2)}%`;
    };
    if (request.kind === 'prepare') {
      // Builds and caches the derivative graphs: rows at batch 1, IG at its chosen batch (one short IG run).
      await computeGradients({ ...options, methods: ['saliency', 'grad_x_input'] });
      await computeGradients({ ...options, methods: ['integrated_gradients'], ig: { steps: 16 } });
    } else if (request.kind.endsWith('-memory')) {
      await call();
    } else {
      const forward = await plainForward(request.model, ids);
      // One untimed call of each first: sessions open (seconds for a large model's cached derivative graphs), which
      // a workbench does once per model and sequence length, not per explanation.
      await forward();
      await call();
      for (let r = 0; r < request.repeats; r++) {
        forwardSeconds.push(await timed(forward));
        seconds.push(await timed(call));
      }
      forwardSeconds.push(await timed(forward));
    }
  }
  const peakMemoryMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ seconds, forwardSeconds, peakMemoryMB, note } satisfies ChildReport)}\n`);
}

if (process.argv[2] === 'gradient-bench-child') {
  child(JSON.parse(process.argv[3]) as ChildRequest).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
