// The speculative-sampling rule on its own: the distributions it compares are exactly the ones plain sampling
// draws from, greedy verification keeps exactly the main model's argmax chain, and sampled verification emits
// tokens distributed as the main model's distribution (χ² against exact probabilities, with a power check
// showing the same test rejects the assistant's own distribution).
import { describe, expect, it } from 'vitest';
import { createRandom, type SamplingParams } from '../../../main/engine/sampling';
import { sampleDistribution, tokenDistribution, verifyDrafts, type Distribution } from '../../../main/engine/speculative';
import { chiSquareFit } from '../../statistics';

/** Independent reference: temperature softmax, then top-k, then the top-p nucleus, renormalized (float64). */
function referenceDistribution(logits: number[], params: SamplingParams): number[] {
  const order = logits.map((_, index) => index).sort((a, b) => logits[b] - logits[a] || a - b);
  const k = params.topK && params.topK > 0 ? params.topK : logits.length;
  const kept = order.slice(0, k);
  const max = Math.max(...kept.map((index) => logits[index]));
  const weights = kept.map((index) => Math.exp((logits[index] - max) / params.temperature!));
  let total = weights.reduce((sum, weight) => sum + weight, 0);
  let count = kept.length;
  if (params.topP !== undefined && params.topP < 1) {
    let mass = 0;
    count = 0;
    while (count < kept.length) {
      mass += weights[count] / total;
      count++;
      if (mass >= params.topP) break;
    }
    total = weights.slice(0, count).reduce((sum, weight) => sum + weight, 0);
  }
  const out = new Array(logits.length).fill(0);
  for (let position = 0; position < count; position++) out[kept[position]] = weights[position] / total;
  return out;
}

/** Seeded logits for a toy "model": a function of the prefix, so draft chains see prefix-dependent rows. */
function toyLogits(seed: number, prefix: number[], vocabulary: number, scale: number): number[] {
  const random = createRandom(prefix.reduce((hash, token) => (hash * 31 + token + 7) >>> 0, seed));
  return Array.from({ length: vocabulary }, () => (random() - 0.5) * scale);
}

const key = (tokens: number[]) => tokens.join(',');

describe('tokenDistribution', () => {
  const logits = [1, 2.2, 0.5, 2.0, -1, 1.5, 2.2];

  it('is what chooseToken samples: temperature, top-k and top-p as a reference computes them', () => {
    for (const params of [
      { temperature: 1 },
      { temperature: 0.7, topK: 3 },
      { temperature: 1.5, topP: 0.8 },
      { temperature: 2, topK: 5, topP: 0.6 },
    ]) {
      const ours = tokenDistribution(logits, params);
      const reference = referenceDistribution(logits, params);
      reference.forEach((probability, token) => expect(ours[token]).toBeCloseTo(probability, 12));
    }
  });

  it('is one-hot on the first maximum when greedy', () => {
    expect(Array.from(tokenDistribution(logits, {}))).toEqual([0, 1, 0, 0, 0, 0, 0]);
  });
});

describe('verifyDrafts, greedy (one-hot distributions)', () => {
  const oneHot = (token: number) => tokenDistribution(Array.from({ length: 10 }, (_, index) => (index === token ? 1 : 0)), {});
  const noRandom = () => {
    throw new Error('greedy verification must not draw');
  };

  it('keeps drafts while they equal the main argmax and replaces the first that does not', () => {
    const main = [oneHot(7), oneHot(9), oneHot(4), oneHot(1)];
    const rejectSecond = verifyDrafts(main, [oneHot(7), oneHot(8), oneHot(4)], [7, 8, 4], () => 0.5);
    expect(rejectSecond).toEqual({ accepted: 1, next: 9 });
    expect(verifyDrafts(main, [oneHot(3), oneHot(9), oneHot(4)], [3, 9, 4], () => 0.5)).toEqual({ accepted: 0, next: 7 });
  });

  it('adds the main model’s next token when every draft is kept, drawing no random numbers for the drafts', () => {
    const main = [oneHot(7), oneHot(9), oneHot(1)];
    let draws = 0;
    const counting = () => {
      draws++;
      return 0.5;
    };
    expect(verifyDrafts(main, [oneHot(7), oneHot(9)], [7, 9], counting)).toEqual({ accepted: 2, next: 1 });
    expect(draws).toBe(1); // the bonus draw only
    expect(() => verifyDrafts(main, [oneHot(7)], [7], noRandom)).toThrow(/number of|rows/);
  });
});

describe('verifyDrafts, sampling: emitted tokens follow the main distribution', () => {
  const vocabulary = 12;
  const params: SamplingParams = { temperature: 1.2, topK: 9, topP: 0.95 };
  const draws = 100_000;

  it('one draft: the first emitted token ~ p (χ² p-value > 0.001, TV < 0.01); the drafts alone fail the same test', () => {
    const p = tokenDistribution(toyLogits(1, [], vocabulary, 4), params);
    const q = tokenDistribution(toyLogits(2, [], vocabulary, 4), params);
    const random = createRandom(123);
    const emitted = new Map<string, number>();
    const drafted = new Map<string, number>();
    for (let draw = 0; draw < draws; draw++) {
      const draft = sampleDistribution(q, random);
      const verdict = verifyDrafts([p, p], [q], [draft], random);
      const token = verdict.accepted === 1 ? draft : verdict.next;
      emitted.set(key([token]), (emitted.get(key([token])) ?? 0) + 1);
      drafted.set(key([draft]), (drafted.get(key([draft])) ?? 0) + 1);
    }
    const expected = new Map(Array.from(p, (probability, token) => [key([token]), probability]));
    const fit = chiSquareFit(emitted, expected);
    expect(fit.impossible).toBe(0);
    expect(fit.pValue).toBeGreaterThan(0.001);
    expect(fit.totalVariation).toBeLessThan(0.01);
    const naive = chiSquareFit(drafted, expected);
    expect(naive.pValue).toBeLessThan(1e-6);
  });

  it('three prefix-dependent drafts: the first two emitted tokens ~ p(a)·p(b | a) (χ² p-value > 0.001)', () => {
    const main = (prefix: number[]) => tokenDistribution(toyLogits(11, prefix, vocabulary, 4), params);
    const assistant = (prefix: number[]) => tokenDistribution(toyLogits(11, prefix, vocabulary, 4).map((value, token) => value + Math.sin(token * 3 + prefix.length)), params);
    const random = createRandom(321);
    const counts = new Map<string, number>();
    const cache = new Map<string, Distribution>();
    const memo = (which: string, prefix: number[], make: (prefix: number[]) => Distribution) => {
      const name = `${which}:${key(prefix)}`;
      if (!cache.has(name)) cache.set(name, make(prefix));
      return cache.get(name)!;
    };
    for (let draw = 0; draw < draws / 2; draw++) {
      const drafts: number[] = [];
      const draftRows: Distribution[] = [];
      for (let index = 0; index < 3; index++) {
        const row = memo('q', drafts, assistant);
        draftRows.push(row);
        drafts.push(sampleDistribution(row, random));
      }
      const mainRows = [0, 1, 2, 3].map((length) => memo('p', drafts.slice(0, length), main));
      const verdict = verifyDrafts(mainRows, draftRows, drafts, random);
      const tokens = [...drafts.slice(0, verdict.accepted), verdict.next];
      // A round that emitted one token continues the way the next round would: from p given that token.
      if (tokens.length === 1) tokens.push(sampleDistribution(memo('p', tokens, main), random));
      counts.set(key(tokens.slice(0, 2)), (counts.get(key(tokens.slice(0, 2))) ?? 0) + 1);
    }
    const expected = new Map<string, number>();
    const first = main([]);
    first.forEach((pa, a) => {
      if (pa === 0) return;
      main([a]).forEach((pb, b) => {
        if (pb > 0) expected.set(key([a, b]), pa * pb);
      });
    });
    const fit = chiSquareFit(counts, expected);
    expect(fit.impossible).toBe(0);
    expect(fit.pValue).toBeGreaterThan(0.001);
    expect(fit.totalVariation).toBeLessThan(0.03);
  });
});
