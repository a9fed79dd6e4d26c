// npm run train-demo [-- --steps N --seed S --out DIR --batch B]
// Trains the built-in demo model on the support-desk task with the project's own gradient engine and writes
// the model folder (default models/demo). Same seed, same machine → the same bytes.
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ADAM } from '../main/demo/task/adam';
import { answerAccuracy } from '../main/demo/task/evaluate';
import { writeDemoFolder } from '../main/demo/task/folder';
import { TaskGenerator } from '../main/demo/task/task';
import { DEFAULT_TRAINING, trainDemoModel, type StepInfo } from '../main/demo/task/train';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: String(DEFAULT_TRAINING.steps) },
    seed: { type: 'string', default: String(DEFAULT_TRAINING.seed) },
    batch: { type: 'string', default: String(DEFAULT_TRAINING.batchSize) },
    out: { type: 'string', default: 'models/demo' },
  },
});
const steps = Number(values.steps);
const seed = Number(values.seed);
const batchSize = Number(values.batch);
const out = resolve(values.out!);

const minutes = (seconds: number) => `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, '0')}`;
const recent: number[] = [];

/** One progress line: a bar, the step, the running loss (mean of the last 50 steps), elapsed and remaining time. */
function progress(info: StepInfo): void {
  recent.push(info.loss);
  if (recent.length > 50) recent.shift();
  const done = info.step + 1;
  const width = 30;
  const filled = Math.round((width * done) / info.steps);
  const mean = recent.reduce((s, v) => s + v, 0) / recent.length;
  const remaining = (info.elapsedSeconds / done) * (info.steps - done);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${info.steps} loss ${mean.toFixed(4)} lr ${info.learningRate.toExponential(1)} ${minutes(info.elapsedSeconds)} elapsed, ~${minutes(remaining)} left`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
  else if (done % 100 === 0 || done === info.steps) process.stderr.write(`${line}\n`);
}

/** The loss curve as a text chart: mean loss per column, log-scaled rows. */
function lossChart(losses: number[], columns = 60, rows = 12): string {
  const per = Math.ceil(losses.length / columns);
  const means: number[] = [];
  for (let i = 0; i < losses.length; i += per) {
    const chunk = losses.slice(i, i + per);
    means.push(chunk.reduce((s, v) => s + v, 0) / chunk.length);
  }
  const logs = means.map((v) => Math.log10(Math.max(v, 1e-6)));
  const top = Math.max(...logs);
  const bottom = Math.min(...logs);
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    const level = top - ((top - bottom) * r) / (rows - 1);
    const label = (10 ** level).toPrecision(3).padStart(8);
    const cells = logs.map((v) => (Math.abs(v - level) <= (top - bottom) / (2 * (rows - 1)) ? '*' : ' ')).join('');
    lines.push(`${label} |${cells}`);
  }
  lines.push(`${' '.repeat(8)} +${'-'.repeat(means.length)}`);
  lines.push(`${' '.repeat(10)}step 0${' '.repeat(Math.max(1, means.length - 12))}${losses.length}`);
  return lines.join('\n');
}

console.log(`training the demo model: seed ${seed}, ${steps} steps of ${batchSize} sequences, buckets ${DEFAULT_TRAINING.buckets.join('/')}`);
const adam = { learningRate: DEFAULT_TRAINING.learningRate };
// No system prompt: the demo prompts (and the first-start demo run) are one user message.
const result = await trainDemoModel({ seed, steps, batchSize, buckets: [...DEFAULT_TRAINING.buckets], followUps: DEFAULT_TRAINING.followUps, auxiliary: DEFAULT_TRAINING.auxiliary, system: null, adam, onStep: progress });
if (process.stderr.isTTY) process.stderr.write('\n');
console.log(`\ntraining loss (answer tokens + ${DEFAULT_TRAINING.auxiliary} × other tokens) (mean of each ${Math.ceil(result.losses.length / 60)} steps):\n${lossChart(result.losses)}`);
console.log(`trained in ${minutes(result.seconds)} (${result.seconds.toFixed(1)} s)`);

const lastMean = (n: number) => result.losses.slice(-n).reduce((s, v) => s + v, 0) / Math.min(n, result.losses.length);
const record = {
  task: 'support-desk (issue 7)',
  seed,
  steps,
  batchSize,
  buckets: DEFAULT_TRAINING.buckets,
  followUps: DEFAULT_TRAINING.followUps,
  systemPrompt: null,
  auxiliaryLossWeight: DEFAULT_TRAINING.auxiliary,
  optimizer: { ...DEFAULT_ADAM, ...adam, totalSteps: steps },
  finalLoss: Number(lastMean(100).toFixed(6)),
  lossEvery50: Array.from({ length: Math.ceil(result.losses.length / 50) }, (_, i) => {
    const chunk = result.losses.slice(i * 50, i * 50 + 50);
    return Number((chunk.reduce((s, v) => s + v, 0) / chunk.length).toFixed(5));
  }),
  reproduce: `npm run train-demo -- --steps ${steps} --seed ${seed} --batch ${batchSize}`,
};
// Written beside the target and renamed, so an interrupted run never leaves half a folder.
const temporary = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
await rm(temporary, { recursive: true, force: true });
await writeDemoFolder(temporary, result.spec, result.weights, record);
await rm(out, { recursive: true, force: true });
await rename(temporary, out);
console.log(`wrote ${out}`);

const heldOut = new TaskGenerator(seed, 'heldout').take(200);
const { accuracy } = await answerAccuracy(out, heldOut);
console.log(`greedy accuracy on 200 held-out prompts: ${(accuracy * 100).toFixed(1)}%`);
