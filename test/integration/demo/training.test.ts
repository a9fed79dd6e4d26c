// The demo model's training path (issue 7): weight gradients from our own derivative graph agree with finite
// differences, the task splits keep held-out pairs out of training, and a short training run is reproducible
// bit for bit (the full run is `npm run train-demo`, not a test).
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../main/engine/onnx/proto';
import { Adam, DEFAULT_ADAM, learningRateAt } from '../../../main/demo/task/adam';
import { encodeExample, makeBatch } from '../../../main/demo/task/batches';
import { initialWeights } from '../../../main/demo/task/model';
import { heldOutPairs, KEYS, TaskGenerator, VALUES, type Fact } from '../../../main/demo/task/task';
import { DemoEncoder } from '../../../main/demo/task/tokenizer';
import { trainDemoModel } from '../../../main/demo/task/train';
import { TrainingGraph } from '../../../main/demo/task/training-graph';
import type { LlamaSpec } from '../../../main/engine/model-builder/llama';

/** A tiny llama-style model (grouped-query attention included) for the gradient and reproducibility checks. */
const TINY: LlamaSpec = { vocabSize: 11, hiddenSize: 8, intermediateSize: 12, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 4, seed: 5, padTokenId: 3 };

describe('demo training', () => {
  it('computes weight gradients that agree with central finite differences (float64)', async () => {
    const init = initialWeights(TINY);
    const weights = Object.fromEntries(Object.entries(init.weights).map(([name, w]) => [name, Float64Array.from(w)]));
    const graph = await TrainingGraph.open(TINY, init.shapes, 2, 6, { floatType: DataType.DOUBLE });
    try {
      // Two right-padded rows with answers of different lengths: padding and the loss mask are exercised.
      const batch = makeBatch([{ ids: [1, 5, 6, 7, 8, 2], promptLength: 3, targets: [3, 4, 5] }, { ids: [1, 9, 4, 2], promptLength: 2, targets: [2, 3] }], 6, 11, 3);
      const doubleBatch = { ...batch, lossWeights: Float64Array.from(batch.lossWeights) };
      const { loss, gradients } = await graph.step(weights, doubleBatch);
      expect(loss).toBeGreaterThan(0);
      let checked = 0;
      for (const [name, w] of Object.entries(weights)) {
        for (const index of [0, Math.floor(w.length / 2), w.length - 1]) {
          const original = w[index];
          const h = 1e-6;
          w[index] = original + h;
          const plus = await graph.loss(weights, doubleBatch);
          w[index] = original - h;
          const minus = await graph.loss(weights, doubleBatch);
          w[index] = original;
          const numeric = (plus - minus) / (2 * h);
          expect(Math.abs(numeric - gradients[name][index]), `${name}[${index}]`).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
          checked++;
        }
      }
      expect(checked).toBe(3 * Object.keys(weights).length);
    } finally {
      await graph.release();
    }
  });

  it('keeps held-out key–value pairs out of every training prompt and asks about them in held-out prompts', () => {
    const held = heldOutPairs(7);
    const pair = (fact: Fact) => KEYS.indexOf(fact.key as (typeof KEYS)[number]) * VALUES.length + fact.pattern;
    for (const example of new TaskGenerator(7, 'train', 5).take(300)) {
      for (const fact of example.facts) expect(held.has(pair(fact))).toBe(false);
      expect(example.facts[example.asked].value).toBe(example.answer);
      expect(example.reply).toBe(`${example.facts[example.asked].key}: ${example.answer}`);
    }
    for (const example of new TaskGenerator(7, 'heldout').take(100)) {
      const fact = example.facts[example.asked];
      expect(held.has(pair(fact))).toBe(true);
      expect(example.facts.length).toBeGreaterThanOrEqual(2);
      expect(example.facts.length).toBeLessThanOrEqual(6);
      expect(example.user).toContain(`${fact.key}: ${fact.value}`);
    }
  });

  it('puts the loss on answer tokens only, averaged over the batch', () => {
    const encoder = new DemoEncoder();
    const example = new TaskGenerator(3, 'heldout').next();
    const encoded = encodeExample(encoder, example, null);
    const batch = makeBatch([encoded], encoded.ids.length + 2, encoder.vocabulary.length, encoder.pad);
    const vocab = encoder.vocabulary.length;
    const weighted: number[] = [];
    batch.lossWeights.forEach((w, i) => {
      if (w > 0) weighted.push(Math.floor(i / vocab) + 1);
    });
    expect(weighted).toEqual(encoded.targets);
    expect(encoder.decode(encoded.targets.map((t) => encoded.ids[t]))).toBe(` ${example.reply}</s>`);
  });

  it('trains reproducibly: the same seed gives the same weights bit for bit, another seed does not', async () => {
    const run = (seed: number) => trainDemoModel({ seed, steps: 20, batchSize: 4, buckets: [48, 112], followUps: 2, system: null, adam: { warmupSteps: 5 }, spec: { ...TINY, vocabSize: new DemoEncoder().vocabulary.length, seed } });
    const [first, second] = [await run(11), await run(11)];
    expect(first.losses).toHaveLength(20);
    expect(first.losses.at(-1)!).toBeLessThan(first.losses[0]);
    for (const [name, w] of Object.entries(first.weights.weights)) expect(Buffer.from(second.weights.weights[name].buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    const other = await run(12);
    expect(Buffer.from(other.weights.weights['lm_head.weight'].buffer).equals(Buffer.from(first.weights.weights['lm_head.weight'].buffer))).toBe(false);
  });

  it('schedules the learning rate with a linear warm-up and a cosine decay, and Adam steps against the gradient', () => {
    const settings = { ...DEFAULT_ADAM, learningRate: 1e-2, warmupSteps: 10, totalSteps: 110, finalFraction: 0.1 };
    expect(learningRateAt(settings, 0)).toBeCloseTo(1e-3);
    expect(learningRateAt(settings, 9)).toBeCloseTo(1e-2);
    expect(learningRateAt(settings, 60)).toBeCloseTo(1e-2 * (0.1 + 0.9 * 0.5));
    expect(learningRateAt(settings, 110)).toBeCloseTo(1e-3);
    // First Adam step: m̂ = g, v̂ = g², so each weight moves by −rate·sign(g) (no decay, no clipping).
    const adam = new Adam({ ...settings, weightDecay: 0, clipNorm: 0 });
    const w = { x: Float32Array.from([1, -2, 0.5]) };
    adam.update(w, { x: [0.3, -4, 0] });
    expect(Array.from(w.x)).toEqual([1 - 1e-3, -2 + 1e-3, 0.5].map(Math.fround));
  });
});
