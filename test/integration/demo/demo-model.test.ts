// The committed demo model (models/demo, issue 7): it loads as an ordinary transformers.js folder, answers
// held-out support-desk prompts, and its explanations point at the data line the answer was copied from.
// Thresholds below are measured values minus a margin (measurements in the comments, from
// `npm run eval-demo` and scratch runs of exactly these samples on the development machine).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeAttention } from '../../../main/engine/attention/compute';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { generate } from '../../../main/engine/generate';
import { loadModelFolder } from '../../../main/engine/model-folder';
import { ensureDemoModel } from '../../../main/demo/demo-model';
import { buildLlamaModel } from '../../../main/engine/model-builder/llama';
import { encodeModel } from '../../../main/engine/onnx/proto';
import { buildTokenSequence } from '../../../main/engine/prompt';
import { encodeExample } from '../../../main/demo/task/batches';
import {
  answerAccuracy,
  chooseBestHead,
  closeAttributionContext,
  dataLineRanges,
  exampleAttributions,
  fewShapeSample,
  hitRates,
  meanRows,
  openAttributionContext,
  randomizedRankCorrelation,
  topLine,
  type AttributionContext,
  type ExampleAttributions,
} from '../../../main/demo/task/evaluate';
import { demoSpec, initialWeights } from '../../../main/demo/task/model';
import { TaskGenerator } from '../../../main/demo/task/task';
import { DemoEncoder } from '../../../main/demo/task/tokenizer';
import { DEMO_REQUEST } from '../../../main/service/demo-run';

env.allowRemoteModels = false;
env.useFSCache = false;

const FOLDER = resolve(__dirname, '../../../models/demo');

/**
 * Measured on the committed model (seed 20261127, 8000 steps) on the development machine; each threshold is
 * the measurement minus a margin of one or two prompts, for other CPUs' rounding.
 */
const THRESHOLDS = {
  // 40 held-out prompts: measured 0.95 (38/40; 0.98 on the 200 prompts of `npm run eval-demo`).
  accuracy: 0.9,
  // Hit rates on the 12-prompt few-shape sample below: measured rollout 0.583, mean 1, best head (layer 2
  // head 0) 1, saliency 1, gradient × input 1, integrated gradients 0.917. Rollout is far below the others: it
  // puts the most mass on the first data line whatever is asked (see the report). Occlusion (issue 16): 1 on the
  // 200 prompts of `npm run eval-demo`.
  hitRate: { attention_rollout: 0.5, attention_mean: 0.83, best_head: 0.83, saliency: 0.83, grad_x_input: 0.83, integrated_gradients: 0.75, occlusion: 0.83 },
  // Mean Spearman correlation of saliency, trained vs re-initialised weights, same sample: measured 0.224.
  randomizedRankCorrelation: 0.4,
};

// Skipped only in a checkout without the committed folder (the app then falls back to a random stand-in).
describe.skipIf(!existsSync(join(FOLDER, 'config.json')))('committed demo model', () => {
  let cacheDir = '';
  let seed = 0;
  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'demo-model-test-'));
    seed = (JSON.parse(await readFile(join(FOLDER, 'training.json'), 'utf8')) as { seed: number }).seed;
  });
  afterAll(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('loads in transformers.js and in our loader, and its tokenizer matches the training encoder', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(FOLDER, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(FOLDER, { local_files_only: true, dtype: 'fp32', device: 'cpu' });
    await model.dispose();
    const loaded = await loadModelFolder(FOLDER, { device: 'cpu' });
    try {
      expect(loaded.config.modelType).toBe('llama');
      const encoder = new DemoEncoder();
      for (const example of new TaskGenerator(seed, 'heldout').take(20)) {
        const { ids, promptLength } = buildTokenSequence(loaded, { task: 'chat', messages: [{ role: 'user', content: example.user }] }, ` ${example.reply}`);
        const trained = encodeExample(encoder, example, null);
        // The app's prompt (chat template + transformers.js tokenizer) is the training prompt, token for token.
        expect([...ids, encoder.eos]).toEqual(trained.ids);
        expect(promptLength).toBe(trained.promptLength);
        expect(ids).not.toContain(encoder.id('<unk>'));
        // Word-level pieces carry their spaces, so the answer decodes exactly and re-encodes to the same ids.
        const answerIds = ids.slice(promptLength);
        expect(tokenizer.decode(answerIds)).toBe(` ${example.reply}`);
        expect(tokenizer.encode(tokenizer.decode(ids, { skip_special_tokens: false }), { add_special_tokens: false })).toEqual(ids);
      }
    } finally {
      await loaded.release();
    }
  });

  it('answers held-out prompts (key–value pairs never seen in training) exactly', async () => {
    const { accuracy } = await answerAccuracy(FOLDER, new TaskGenerator(seed, 'heldout').take(40));
    expect(accuracy).toBeGreaterThanOrEqual(THRESHOLDS.accuracy);
  });

  describe('faithfulness', () => {
    let context: AttributionContext;
    let attributions: ExampleAttributions[] = [];
    let bestHead = 0;

    beforeAll(async () => {
      context = await openAttributionContext(FOLDER, cacheDir);
      // The best head is chosen on validation prompts (attention only: one forward each), measured on held-out ones.
      const validation = fewShapeSample(new TaskGenerator(seed, 'validation').take(200), 3, 4);
      const validationAttention: ExampleAttributions[] = [];
      for (const example of validation) validationAttention.push(await exampleAttributions(context, example, { gradients: false }));
      bestHead = chooseBestHead(validationAttention).head;
      for (const example of fewShapeSample(new TaskGenerator(seed, 'heldout').take(200), 3, 4)) attributions.push(await exampleAttributions(context, example));
    });
    afterAll(async () => {
      if (context) await closeAttributionContext(context);
    });

    it('gives the answer’s data line the largest share, per method, at least as often as measured', () => {
      expect(attributions).toHaveLength(12);
      const rates = hitRates(attributions, bestHead);
      for (const [method, threshold] of Object.entries(THRESHOLDS.hitRate)) expect(rates[method as keyof typeof rates], method).toBeGreaterThanOrEqual(threshold);
    });

    it('changes its saliency maps when the weights are re-initialised (Adebayo et al. 2018)', async () => {
      const spec = demoSpec(seed + 1, context.loaded.config.vocabSize);
      const random = encodeModel(buildLlamaModel(spec, { weights: initialWeights(spec) }).model);
      const { mean } = await randomizedRankCorrelation(attributions, random, cacheDir);
      expect(mean).toBeLessThan(THRESHOLDS.randomizedRankCorrelation);
    });
  });

  it('answers the first-start demo request correctly and lights up its data line (mean attention, IG, saliency)', async () => {
    const folder = await ensureDemoModel(join(cacheDir, 'demo'));
    const loaded = await loadModelFolder(folder, { device: 'cpu' });
    try {
      const input = { task: DEMO_REQUEST.task, system: DEMO_REQUEST.system, messages: DEMO_REQUEST.messages };
      const prompt = buildTokenSequence(loaded, input);
      const generated = await generate(loaded, loaded.session, prompt.ids, DEMO_REQUEST.generation!);
      expect(generated.stopReason).toBe('eos');
      const user = DEMO_REQUEST.messages![0].content;
      const lines = user.split('\n').slice(1, -2);
      const question = user.split('\n').at(-1)!;
      const asked = lines.findIndex((line) => question.includes(line.split(':')[0]));
      // The reply restates the asked line: "key: value", copied from the data.
      expect(loaded.tokenizer.decode(generated.ids, { skip_special_tokens: true }).trim()).toBe(lines[asked]);

      const ids = [...prompt.ids, ...generated.ids];
      const ranges = dataLineRanges(ids);
      const attention = await computeAttention({ modelPath: loaded.onnxPath, config: loaded.config, ids, promptLength: prompt.promptLength, rows: 'answer', cacheDir: join(cacheDir, 'attention'), device: 'cpu' });
      expect(asked).toBe(2);
      expect(topLine(meanRows(attention.mean, attention.rowPositions.length, attention.seqLen), ranges, false)).toBe(asked);
      // Rollout picks the first data line on this prompt (its early-position bias; measured, see the report).
      expect(topLine(meanRows(attention.rollout, attention.rowPositions.length, attention.seqLen), ranges, false)).toBe(0);
      const gradients = await computeGradients({ modelPath: loaded.onnxPath, ids, promptLength: prompt.promptLength, methods: ['saliency', 'integrated_gradients'], config: { padTokenId: 3 }, cacheDir });
      expect(topLine(gradients.integratedGradients!.attributions, ranges, true)).toBe(asked);
      expect(topLine(gradients.sequence.saliency!, ranges, false)).toBe(asked);
    } finally {
      await loaded.release();
    }
  });
});
