// Issue 16 methods benchmark: step scores, logit lens, occlusion and faithfulness curves on the ~40M llama-style
// bench model at T = 64 with an 8-token answer, as multiples of one plain forward of the same sequence measured in
// the same process (F M F M … F, each call divided by the mean of the forwards on either side; median over repeats),
// with the forward passes each perturbation method runs. One child per method; graphs are built (and cached) by a
// first untimed call. Peak RSS includes the plain session the child times against.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { benchModel } from './gradient-bench';

export interface MethodsRow {
  method: string;
  /** Median wall time, seconds. */
  seconds: number;
  /** Multiple of one plain forward of the same model and sequence. */
  ratio: number;
  /** Forward passes per call (perturbation methods), 1 otherwise. */
  forwards: number;
  peakMemoryMB: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
const cacheDir = join(root, '.cache', 'bench', 'methods');
const SEQUENCE = 64;
const ANSWER = 8;
const REPEATS = 2;
const METHODS = ['step_scores', 'logit_lens', 'occlusion', 'faithfulness'] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export async function benchMethods(): Promise<MethodsRow[]> {
  const model = await benchModel();
  const rows: MethodsRow[] = [];
  for (const method of METHODS) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'methods-bench-child', method, model], { cwd: root, maxBuffer: 1 << 20 });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number[]; forwardSeconds: number[]; forwards: number; peakMemoryMB: number };
    const ratios = report.seconds.map((s, i) => s / ((report.forwardSeconds[i] + report.forwardSeconds[i + 1]) / 2));
    rows.push({ method, seconds: median(report.seconds), ratio: median(ratios), forwards: report.forwards, peakMemoryMB: Math.round(report.peakMemoryMB) });
  }
  return rows;
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return (performance.now() - start) / 1000;
}

async function child(method: string, model: string): Promise<void> {
  const { createSession } = await import('../../main/engine/runtime');
  const { forwardFeeds } = await import('../../main/engine/attention/feeds');
  const { openGradientProgram } = await import('../../main/engine/gradients/compute');
  const { computeStepScores } = await import('../../main/engine/methods/step-scores');
  const { computeLogitLens } = await import('../../main/engine/methods/logit-lens');
  const { TargetForward } = await import('../../main/engine/methods/target-forward');
  const { computeOcclusion } = await import('../../main/engine/methods/occlusion');
  const { computeFaithfulness } = await import('../../main/engine/methods/faithfulness');
  const ids = Array.from({ length: SEQUENCE }, (_, i) => (i === 0 ? 1 : 100 + ((i * 7919) % 31900)));
  const promptLength = SEQUENCE - ANSWER;
  const session = await createSession(model, 'cpu');
  const plain = () => session.run(forwardFeeds(session, ids), ['logits']);
  const program = await openGradientProgram(model, 'cpu', cacheDir);
  const forward = await TargetForward.open(program, 'cpu', cacheDir);
  const input = program.embedIds(ids);
  const zero = new Float32Array(program.hiddenSize);
  // Three attribution orders (as a run with attention, saliency and grad × input) plus the 4 random orders.
  const attribution = (seed: number) => ids.map((_, j) => Math.sin(seed * 12.9898 + j * 78.233));
  const calls: Record<string, () => Promise<unknown>> = {
    step_scores: () => computeStepScores(session, ids, promptLength),
    logit_lens: () => computeLogitLens({ program, layers: 8, ids, promptLength, cacheDir }),
    occlusion: () => computeOcclusion({ forward, input, baseline: zero, baselineName: 'zero', ids, promptLength }),
    faithfulness: () => computeFaithfulness({ forward, input, baseline: zero, ids, promptLength, attributions: { a: attribution(1), b: attribution(2), c: attribution(3) } }),
  };
  const call = calls[method];
  await plain();
  const before = forward.forwards;
  await call();
  const forwards = forward.forwards - before || 1;
  const seconds: number[] = [];
  const forwardSeconds: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    forwardSeconds.push(await timed(plain));
    seconds.push(await timed(call));
  }
  forwardSeconds.push(await timed(plain));
  process.stdout.write(`${JSON.stringify({ seconds, forwardSeconds, forwards, peakMemoryMB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

if (process.argv[2] === 'methods-bench-child') {
  child(process.argv[3], process.argv[4]).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
