// Faithfulness of attributions: deletion and insertion curves (Petsiuk et al. 2018, RISE; ERASER
// comprehensiveness and sufficiency, DeYoung et al. 2020) with AOPC (Samek et al. 2017). For one method, the
// prompt positions are ordered by its sequence attribution, largest first (ties: earlier position first);
// n_k = round(k · P / 100) for k = 0, 10, …, 100 with P prompt positions; F = Σ_t f_t over the answer:
//   deletion[k/10]  = F(x with the first n_k positions of the order replaced by the baseline)   (deletion[0] = F(x))
//   insertion[k/10] = F(all prompt positions baseline except the first n_k of the order)         (insertion[10] = F(x))
//   aopcDeletion    = mean_k (F(x) − deletion[k]);   aopcInsertion = mean_k (insertion[k] − insertion[0])
// Answer positions are never replaced (F is measured on them). The "random" control averages the curves of
// seeded random orders. Identical inputs (shared end points, equal prefixes) are run once.
import type { FaithfulnessCurveJson } from '../../../shared/run';
import { mulberry32 } from '../../../shared/random';
import type { TargetForward } from './target-forward';
import { withBaseline } from './occlusion';

export const CURVE_POINTS = 11;
export const RANDOM_ORDERS = 4;
export const RANDOM_SEED = 16;

export interface FaithfulnessInput {
  forward: TargetForward;
  input: Float32Array;
  baseline: Float32Array;
  ids: readonly number[];
  promptLength: number;
  /** Method id → sequence attribution per position (null where the method says nothing). */
  attributions: Record<string, readonly (number | null)[]>;
  randomOrders?: number;
  signal?: AbortSignal;
}

/** Prompt positions by attribution, largest first; positions without a value go last. */
export function attributionOrder(values: readonly (number | null)[], promptLength: number): number[] {
  const score = (j: number) => (values[j] === null || values[j] === undefined || !Number.isFinite(values[j]) ? -Infinity : (values[j] as number));
  return Array.from({ length: promptLength }, (_, j) => j).sort((a, b) => score(b) - score(a) || a - b);
}

/** Positions removed at each of the 11 points. */
export function pointCounts(promptLength: number): number[] {
  return Array.from({ length: CURVE_POINTS }, (_, k) => Math.round((k * promptLength) / (CURVE_POINTS - 1)));
}

function shuffled(count: number, random: () => number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export function curveFrom(deletion: number[], insertion: number[]): FaithfulnessCurveJson {
  const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  return {
    deletion,
    insertion,
    aopcDeletion: mean(deletion.map((v) => deletion[0] - v)),
    aopcInsertion: mean(insertion.map((v) => v - insertion[0])),
  };
}

/**
 * Curves for every method and the random control. Example: with P = 5, n_k = [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
 * (rounding half away from zero), so neighbouring points can be equal.
 */
export async function computeFaithfulness(options: FaithfulnessInput): Promise<{ curves: Record<string, FaithfulnessCurveJson>; forwards: number; batch: number; randomOrders: number }> {
  const { forward, input, baseline, ids, promptLength } = options;
  const counts = pointCounts(promptLength);
  const orders: [string, number[]][] = Object.entries(options.attributions).map(([method, values]) => [method, attributionOrder(values, promptLength)]);
  const random = mulberry32(RANDOM_SEED);
  const randomOrders = options.randomOrders ?? RANDOM_ORDERS;
  for (let r = 0; r < randomOrders; r++) orders.push([`random:${r}`, shuffled(promptLength, random)]);
  // Every input is "these prompt positions are baseline": keyed by the sorted set, run once each.
  const unique = new Map<string, number[]>();
  const keyOf = (removed: number[]) => [...removed].sort((a, b) => a - b).join(',');
  const plan = orders.map(([, order]) => {
    const deletion = counts.map((n) => order.slice(0, n));
    const insertion = counts.map((n) => order.slice(n));
    for (const removed of [...deletion, ...insertion]) unique.set(keyOf(removed), removed);
    return { deletion: deletion.map(keyOf), insertion: insertion.map(keyOf) };
  });
  const keys = [...unique.keys()];
  const before = forward.forwards;
  const values = await forward.logProbs({ length: keys.length, at: (i) => withBaseline(input, baseline, unique.get(keys[i])!) }, ids, promptLength, options.signal);
  const total = new Map(keys.map((key, i) => [key, values[i].reduce((s, v) => s + v, 0)]));
  const curves: Record<string, FaithfulnessCurveJson> = {};
  const randomSums = { deletion: new Array<number>(CURVE_POINTS).fill(0), insertion: new Array<number>(CURVE_POINTS).fill(0) };
  orders.forEach(([method], i) => {
    const deletion = plan[i].deletion.map((key) => total.get(key)!);
    const insertion = plan[i].insertion.map((key) => total.get(key)!);
    if (!method.startsWith('random:')) curves[method] = curveFrom(deletion, insertion);
    else deletion.forEach((v, k) => ((randomSums.deletion[k] += v / randomOrders), (randomSums.insertion[k] += insertion[k] / randomOrders)));
  });
  if (randomOrders > 0) curves.random = curveFrom(randomSums.deletion, randomSums.insertion);
  return { curves, forwards: forward.forwards - before, batch: forward.batchSize(ids.length), randomOrders };
}
