import { describe, expect, it } from 'vitest';
import { argmax, chooseToken, createRandom, logSumExp, tokenLogProbability, topKIndices } from '../../../main/engine/sampling';

/** Independent reference: softmax in float64 by the textbook formula. */
function softmax(values: number[], temperature = 1): number[] {
  const scaled = values.map((value) => value / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((value) => Math.exp(value - max));
  const total = exps.reduce((sum, value) => sum + value, 0);
  return exps.map((value) => value / total);
}

function frequencies(logits: number[], params: Parameters<typeof chooseToken>[1], draws: number, seed = 7): number[] {
  const random = createRandom(seed);
  const counts = new Array(logits.length).fill(0);
  for (let draw = 0; draw < draws; draw++) counts[chooseToken(Float32Array.from(logits), params, random)]++;
  return counts.map((count) => count / draws);
}

describe('createRandom', () => {
  it('repeats a sequence for a seed and differs across seeds', () => {
    const first = createRandom(42);
    const again = createRandom(42);
    const other = createRandom(43);
    const a = Array.from({ length: 5 }, () => first());
    expect(Array.from({ length: 5 }, () => again())).toEqual(a);
    expect(Array.from({ length: 5 }, () => other())).not.toEqual(a);
  });

  it('is uniform on [0, 1): mean ≈ 1/2, variance ≈ 1/12 over 100k draws', () => {
    const random = createRandom(1);
    let sum = 0;
    let squares = 0;
    let low = Infinity;
    let high = -Infinity;
    const n = 100_000;
    for (let index = 0; index < n; index++) {
      const value = random();
      low = Math.min(low, value);
      high = Math.max(high, value);
      sum += value;
      squares += value * value;
    }
    expect(low).toBeGreaterThanOrEqual(0);
    expect(high).toBeLessThan(1);
    const mean = sum / n;
    expect(mean).toBeCloseTo(0.5, 2);
    expect(squares / n - mean * mean).toBeCloseTo(1 / 12, 2);
  });
});

describe('log-probabilities', () => {
  it('logSumExp and tokenLogProbability match a naive float64 softmax', () => {
    const logits = [2.5, -1, 0.25, 7, 3];
    const reference = softmax(logits);
    logits.forEach((_, token) => expect(tokenLogProbability(logits, token)).toBeCloseTo(Math.log(reference[token]), 12));
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 9); // no overflow
  });

  it('argmax takes the first of equal maxima', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax(Float32Array.of(-5, -4, -9))).toBe(1);
  });
});

describe('topKIndices', () => {
  it('equals a full sort (descending, ties by index) for every k', () => {
    const random = createRandom(9);
    const logits = Array.from({ length: 300 }, () => Math.round(random() * 40) / 4); // many ties
    const sorted = logits.map((_, index) => index).sort((a, b) => logits[b] - logits[a] || a - b);
    for (const k of [1, 2, 7, 50, 299, 300]) expect(topKIndices(logits, k)).toEqual(sorted.slice(0, k));
  });
});

describe('chooseToken', () => {
  const logits = [1, 2.2, 0.5, 2.0, -1, 1.5];

  it('is argmax when greedy (temperature 0 or undefined)', () => {
    const random = createRandom(3);
    expect(chooseToken(logits, {}, random)).toBe(1);
    expect(chooseToken(logits, { temperature: 0, topK: 3 }, random)).toBe(1);
  });

  it('samples softmax(logits / T) at temperature T (frequencies within 0.01 over 200k draws)', () => {
    for (const temperature of [1, 0.5, 2]) {
      const observed = frequencies(logits, { temperature }, 200_000);
      const expected = softmax(logits, temperature);
      observed.forEach((frequency, token) => expect(Math.abs(frequency - expected[token])).toBeLessThan(0.01));
    }
  });

  it('top-k keeps only the k most likely tokens, renormalized', () => {
    const observed = frequencies(logits, { temperature: 1, topK: 2 }, 100_000);
    const expected = softmax([2.2, 2.0]);
    expect(observed[1]).toBeCloseTo(expected[0], 1);
    expect(observed[3]).toBeCloseTo(expected[1], 1);
    expect(observed[0] + observed[2] + observed[4] + observed[5]).toBe(0);
    expect(frequencies(logits, { temperature: 1, topK: 1 }, 1000)[1]).toBe(1);
  });

  it('top-p keeps the smallest nucleus whose mass reaches p', () => {
    const probabilities = softmax(logits); // sorted: 1 (.33), 3 (.27), 5 (.16), 0 (.10), ...
    const order = [1, 3, 5, 0, 2, 4];
    const p = probabilities[1] + probabilities[3] + 0.01; // needs the third token too
    const observed = frequencies(logits, { temperature: 1, topP: p }, 100_000);
    const nucleus = order.slice(0, 3);
    const mass = nucleus.reduce((sum, token) => sum + probabilities[token], 0);
    for (const token of nucleus) expect(Math.abs(observed[token] - probabilities[token] / mass)).toBeLessThan(0.01);
    for (const token of order.slice(3)) expect(observed[token]).toBe(0);
    // A tiny p still keeps the most likely token.
    expect(frequencies(logits, { temperature: 1, topP: 1e-6 }, 1000)[1]).toBe(1);
  });

  it('draws the same tokens for the same seed', () => {
    const draw = (seed: number) => {
      const random = createRandom(seed);
      return Array.from({ length: 50 }, () => chooseToken(logits, { temperature: 1.3, topP: 0.9 }, random));
    };
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });
});
