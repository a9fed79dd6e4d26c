// npm run eval-demo [-- --model DIR --prompts N --validation N]
// Evaluates the committed demo model on held-out prompts of its task: greedy accuracy, the faithfulness hit
// rate of each explanation method (does the answer's data line get the largest share?), and the model
// randomisation check of Adebayo et al. 2018. The last line of output is the JSON summary.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildLlamaModel } from '../main/engine/model-builder/llama';
import { encodeModel } from '../main/engine/onnx/proto';
import { DEMO_SEED, demoSpec, initialWeights } from '../main/demo/task/model';
import {
  answerAccuracy,
  chooseBestHead,
  closeAttributionContext,
  exampleAttributions,
  hitRates,
  meanAopc,
  openAttributionContext,
  randomizedRankCorrelation,
  topLine,
  type ExampleAttributions,
} from '../main/demo/task/evaluate';
import { TaskGenerator, type TaskExample } from '../main/demo/task/task';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    prompts: { type: 'string', default: '200' },
    validation: { type: 'string', default: '100' },
  },
});
const folder = resolve(values.model!);
const record = JSON.parse(await readFile(join(folder, 'training.json'), 'utf8').catch(() => '{}')) as { seed?: number };
const seed = record.seed ?? DEMO_SEED;
const heldOut = new TaskGenerator(seed, 'heldout').take(Number(values.prompts));
const validation = new TaskGenerator(seed, 'validation').take(Number(values.validation));

const started = performance.now();
const log = (message: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${message}`);

const { accuracy, wrong } = await answerAccuracy(folder, heldOut);
log(`greedy accuracy ${(accuracy * 100).toFixed(1)}% on ${heldOut.length} held-out prompts`);
for (const miss of wrong.slice(0, 5)) log(`  wrong: expected "${miss.example.reply}", got "${miss.answer.trim()}"`);

const cacheDir = await mkdtemp(join(tmpdir(), 'eval-demo-'));
try {
  const context = await openAttributionContext(folder, cacheDir);
  const attribute = async (examples: TaskExample[], name: string, gradients = true, bestHead?: number): Promise<ExampleAttributions[]> => {
    const out: ExampleAttributions[] = [];
    for (const example of examples) {
      // Held-out prompts also get deletion/insertion curves of every method (issue 16).
      out.push(await exampleAttributions(context, example, { gradients, faithfulness: gradients, bestHead }));
      if (out.length % 25 === 0) log(`${name}: ${out.length}/${examples.length} explained`);
    }
    return out;
  };
  // Choosing the head needs attention only (one forward pass per prompt).
  const validationAttributions = await attribute(validation, 'validation', false);
  const best = chooseBestHead(validationAttributions);
  const heads = context.loaded.config.numHeads;
  log(`best head on validation: layer ${Math.floor(best.head / heads)} head ${best.head % heads} (hit rate ${best.hitRate.toFixed(3)})`);
  const heldOutAttributions = await attribute(heldOut, 'held-out', true, best.head);
  const aopc = meanAopc(heldOutAttributions);
  const rates = hitRates(heldOutAttributions, best.head);
  // Where rollout misses, does it prefer an earlier line? (Rollout multiplies residual-mixed attention over
  // layers, which piles mass onto early positions.)
  const rolloutMisses = heldOutAttributions.map((a) => ({ top: topLine(a.rollout, a.lines, false), asked: a.asked })).filter((m) => m.top !== m.asked);
  const rolloutEarlier = rolloutMisses.filter((m) => m.top < m.asked).length;
  await closeAttributionContext(context);

  // Model randomisation: the same architecture re-initialised (the training initialiser, another seed).
  const spec = demoSpec(seed + 1, context.loaded.config.vocabSize);
  const randomModel = encodeModel(buildLlamaModel(spec, { weights: initialWeights(spec) }).model);
  const correlation = await randomizedRankCorrelation(heldOutAttributions, randomModel, cacheDir);
  log(`saliency rank correlation trained vs randomised weights: ${correlation.mean.toFixed(3)}`);

  const round = (v: number) => Number(v.toFixed(4));
  const summary = {
    accuracy: round(accuracy),
    prompts: heldOut.length,
    hitRate: Object.fromEntries(Object.entries(rates).map(([method, rate]) => [method, round(rate)])),
    bestHead: { layer: Math.floor(best.head / heads), head: best.head % heads, validationHitRate: round(best.hitRate), validationPrompts: validation.length },
    randomizedRankCorrelation: round(correlation.mean),
    meanAopc: Object.fromEntries(Object.entries(aopc).sort(([, a], [, b]) => b.deletion - a.deletion).map(([method, v]) => [method, { deletion: round(v.deletion), insertion: round(v.insertion) }])),
    rolloutMissesOnEarlierLine: rolloutMisses.length ? round(rolloutEarlier / rolloutMisses.length) : 0,
  };
  console.log(JSON.stringify(summary));
} finally {
  await rm(cacheDir, { recursive: true, force: true });
}
