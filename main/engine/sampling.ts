// Choosing the next token from one row of logits: greedy, or sampling with temperature, top-k and top-p
// from a seeded generator so that a recorded seed reproduces a run exactly.
import { mulberry32 } from '../../shared/random';

export interface SamplingParams {
  /** 0 or undefined: greedy (argmax). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: all). */
  topP?: number;
}

/** A uniform generator on [0, 1). */
export type Random = () => number;

/**
 * A seeded generator (mulberry32: 32-bit state, fast, good enough for sampling; not for cryptography).
 * Example: `createRandom(42)()` → `0.6011037519201636` every time.
 */
export function createRandom(seed: number): Random {
  return mulberry32(seed);
}

/** A fresh 32-bit seed for runs that did not ask for one (recorded so they can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967296) >>> 0;
}

/** Index of the largest value; the first one on ties (what argmax does in PyTorch and transformers.js). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let index = 0; index < values.length; index++) {
    if (values[index] > bestValue) {
      bestValue = values[index];
      best = index;
    }
  }
  return best;
}

/** log Σ exp(values), computed stably in float64. */
export function logSumExp(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let index = 0; index < values.length; index++) if (values[index] > max) max = values[index];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let index = 0; index < values.length; index++) sum += Math.exp(values[index] - max);
  return max + Math.log(sum);
}

/** log p(token) under softmax(logits) — the model's own distribution, before temperature or truncation. */
export function tokenLogProbability(logits: ArrayLike<number>, token: number, normalizer = logSumExp(logits)): number {
  return logits[token] - normalizer;
}

export function isGreedy(params: SamplingParams): boolean {
  return !params.temperature || params.temperature <= 0;
}

/** Indices of the k largest logits, in descending order (ties: lower index first); O(V log k) with a min-heap. */
export function topKIndices(logits: ArrayLike<number>, k: number): number[] {
  // "a ranks below b" when its logit is smaller, or equal with a higher index.
  const below = (a: number, b: number) => logits[a] < logits[b] || (logits[a] === logits[b] && a > b);
  const heap: number[] = [];
  const siftDown = (start: number) => {
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let lowest = parent;
      if (left < heap.length && below(heap[left], heap[lowest])) lowest = left;
      if (right < heap.length && below(heap[right], heap[lowest])) lowest = right;
      if (lowest === parent) return;
      [heap[parent], heap[lowest]] = [heap[lowest], heap[parent]];
      parent = lowest;
    }
  };
  for (let index = 0; index < logits.length; index++) {
    if (heap.length < k) {
      heap.push(index);
      for (let child = heap.length - 1; child > 0; ) {
        const parent = (child - 1) >> 1;
        if (!below(heap[child], heap[parent])) break;
        [heap[child], heap[parent]] = [heap[parent], heap[child]];
        child = parent;
      }
    } else if (below(heap[0], index)) {
      heap[0] = index;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => logits[b] - logits[a] || a - b);
}

/**
 * The nucleus of the full vocabulary without sorting all of it: lower a weight threshold by halves until the
 * tokens above it hold mass ≥ p (every nucleus token is then above it), and sort only those.
 */
function nucleusCandidates(weights: Float64Array, total: number, topP: number, logits: ArrayLike<number>): number[] {
  let maxWeight = 0;
  for (const weight of weights) maxWeight = Math.max(maxWeight, weight);
  let threshold = maxWeight;
  for (;;) {
    let mass = 0;
    for (const weight of weights) if (weight >= threshold) mass += weight;
    if (mass / total >= topP || threshold === 0) break;
    threshold = threshold > 1e-300 ? threshold / 2 : 0;
  }
  const candidates: number[] = [];
  for (let index = 0; index < weights.length; index++) if (weights[index] >= threshold) candidates.push(index);
  return candidates.sort((a, b) => logits[b] - logits[a] || a - b);
}

/**
 * The sampling distribution of one row of logits before normalisation: softmax(logits / temperature) weights,
 * restricted to the top-k tokens, then to the top-p nucleus (the shortest most-likely-first prefix whose mass
 * reaches p). `tokens` lists the kept token ids in a fixed order (undefined: the whole vocabulary in index
 * order); `weights[i]` belongs to token `tokens[i]` (or `i`) and `total` is their sum. Callers must not be
 * greedy. Sampling (chooseToken) and speculative decoding (speculative.ts) both read it, so temperature,
 * top-k and top-p shape the main and the assistant distributions the same way.
 *
 * Example: `samplingWeights(Float32Array.of(0, 5, 1), {temperature: 1, topK: 1})` → `{tokens: [1], weights: [1], total: 1}`.
 */
export function samplingWeights(logits: ArrayLike<number>, params: SamplingParams): { tokens?: number[]; weights: Float64Array; total: number } {
  const temperature = params.temperature as number;
  const vocabulary = logits.length;
  const topK = params.topK && params.topK > 0 ? Math.min(params.topK, vocabulary) : vocabulary;
  const topP = params.topP !== undefined && params.topP > 0 && params.topP < 1 ? params.topP : 1;

  // candidates === undefined means "the whole vocabulary in index order".
  let candidates: number[] | undefined = topK < vocabulary ? topKIndices(logits, topK) : undefined;
  const count = () => candidates?.length ?? vocabulary;
  const at = (position: number) => (candidates ? candidates[position] : position);

  let max = -Infinity;
  for (let position = 0; position < count(); position++) max = Math.max(max, logits[at(position)]);
  let weights = new Float64Array(count());
  let total = 0;
  for (let position = 0; position < weights.length; position++) {
    weights[position] = Math.exp((logits[at(position)] - max) / temperature);
    total += weights[position];
  }

  if (topP < 1) {
    if (!candidates) {
      candidates = nucleusCandidates(weights, total, topP, logits);
      const all = weights;
      weights = Float64Array.from(candidates, (index) => all[index]);
    }
    // Shortest prefix (candidates are in descending order) whose share of the mass reaches p; never empty.
    let mass = 0;
    let kept = 0;
    while (kept < weights.length) {
      mass += weights[kept] / total;
      kept++;
      if (mass >= topP) break;
    }
    weights = weights.subarray(0, kept);
    candidates = candidates.slice(0, kept);
    total = weights.reduce((sum, weight) => sum + weight, 0);
  }
  return { tokens: candidates, weights, total };
}

/**
 * Picks the next token. Greedy when temperature is 0/undefined; otherwise samples `samplingWeights` (softmax
 * of logits / temperature, top-k, then top-p, renormalized) with `random`. Candidate order is fixed
 * (descending logit, ties by index), so a seed always gives the same token.
 *
 * Example: `chooseToken(Float32Array.of(0, 5, 1), {}, Math.random)` → `1`.
 */
export function chooseToken(logits: ArrayLike<number>, params: SamplingParams, random: Random): number {
  if (isGreedy(params)) return argmax(logits);
  const { tokens, weights, total } = samplingWeights(logits, params);
  const at = (position: number) => (tokens ? tokens[position] : position);
  let remaining = random() * total;
  for (let position = 0; position < weights.length; position++) {
    remaining -= weights[position];
    if (remaining < 0) return at(position);
  }
  return at(weights.length - 1);
}
