// Length buckets: derivative graphs are built for a few sequence lengths and target counts, and a run is padded on
// the right up to its bucket, so a prompt of a new length reuses a graph that already exists.
//
// Why the padding changes nothing: in a causal decoder no position attends to a later one, so positions appended
// after the sequence cannot reach the real positions' activations, target values or gradients — their attention
// probabilities on the appended keys are exactly zero. Padded positions repeat the last real token (finite values
// everywhere: a 0 probability times a NaN value would still be NaN). Padded targets repeat the last real target
// and get a zero seed cotangent, so they add nothing to any gradient; their values are cut off. Whether a model is
// causal is checked on its graph, not assumed: the derivative probe finds every attention Softmax and tests that
// its probabilities above the diagonal are exactly zero (causal-blocks.ts); a model where that fails is
// differentiated at exact lengths.
import type { ProgramRun } from './program-run';

/** Sequence lengths below this share one bucket (tiny graphs: padding them costs nothing). */
const SMALLEST_SEQUENCE_BUCKET = 16;
/** Target counts up to this are exact (answers of a few tokens are common and cheap). */
const EXACT_TARGETS = 4;

/**
 * The smallest bucket m · 2^k ≥ n with m ∈ {4, 5, 6, 7}: four buckets per octave, so padding adds at most 25% of
 * the length (…, 16, 20, 24, 28, 32, 40, 48, 56, 64, …, 768, 896, 1024, 1280, …).
 *
 * Example: `lengthBucket(1000)` → 1024; `lengthBucket(1025)` → 1280; `lengthBucket(20)` → 20.
 */
export function lengthBucket(n: number): number {
  if (n <= 4) return n;
  const octave = 2 ** Math.floor(Math.log2(n / 4));
  for (const m of [4, 5, 6, 7, 8]) if (m * octave >= n) return m * octave;
  return 8 * octave;
}

/** Padded sizes of one run: sequence positions and targets. */
export interface RunLayout {
  length: number;
  targets: number;
}

/**
 * The bucket of a run: its sequence length rounded up (never past `limit`, the model's maximum positions, nor below
 * the length itself) and its target count rounded up.
 *
 * Example: `runLayout(1000, 32, 2048)` → `{ length: 1024, targets: 32 }`; `runLayout(1000, 33, 1010)` →
 * `{ length: 1010, targets: 40 }`.
 */
export function runLayout(length: number, targets: number, limit?: number): RunLayout {
  const bucket = Math.max(SMALLEST_SEQUENCE_BUCKET, lengthBucket(length));
  const capped = limit !== undefined && limit >= length ? Math.min(bucket, limit) : bucket;
  return { length: capped, targets: targets <= EXACT_TARGETS ? targets : lengthBucket(targets) };
}

/** Whether a layout pads the run at all. */
export function pads(run: Pick<ProgramRun, 'ids' | 'targetIds'>, layout: RunLayout): boolean {
  return layout.length !== run.ids.length || layout.targets !== run.targetIds.length;
}

function padded<T>(values: readonly T[], length: number): T[] {
  return Array.from({ length }, (_, i) => values[Math.min(i, values.length - 1)]);
}

/** `run` padded on the right to `layout` (see the file comment); `hidden` is the embedding width. */
export function padRun(run: ProgramRun, layout: RunLayout, hidden: number): ProgramRun {
  if (!pads(run, layout)) return run;
  const length = run.ids.length;
  const targets = run.targetIds.length;
  const Type = run.embeddings.constructor as Float32ArrayConstructor | Float64ArrayConstructor;
  const embeddings = new Type(run.batch * layout.length * hidden);
  for (let b = 0; b < run.batch; b++) {
    const from = b * length * hidden;
    const to = b * layout.length * hidden;
    embeddings.set(run.embeddings.subarray(from, from + length * hidden), to);
    const last = run.embeddings.subarray(from + (length - 1) * hidden, from + length * hidden);
    for (let p = length; p < layout.length; p++) embeddings.set(last, to + p * hidden);
  }
  return {
    ...run,
    embeddings,
    ids: padded(run.ids, layout.length),
    positions: padded(run.positions, layout.targets),
    targetIds: padded(run.targetIds, layout.targets),
    foilIds: run.foilIds ? padded(run.foilIds, layout.targets) : undefined,
    cotangent: padCotangent(run.cotangent, run.rows * run.batch, targets, layout.targets),
  };
}

/** A seed cotangent [groups, targets] widened to [groups, padded targets] with zeros. */
export function padCotangent<A extends Float32Array | Float64Array>(cotangent: A, groups: number, targets: number, paddedTargets: number): A {
  if (targets === paddedTargets) return cotangent;
  const out = new (cotangent.constructor as new (n: number) => A)(groups * paddedTargets);
  for (let g = 0; g < groups; g++) out.set(cotangent.subarray(g * targets, (g + 1) * targets), g * paddedTargets);
  return out;
}

/** The first `keep` of every `stride` values, for `groups` groups: [groups, stride, …] → [groups, keep, …]. */
export function keepLeading<A extends Float32Array | Float64Array>(values: A, groups: number, stride: number, keep: number, inner = 1): A {
  if (stride === keep) return values;
  const out = new (values.constructor as new (n: number) => A)(groups * keep * inner);
  for (let g = 0; g < groups; g++) out.set(values.subarray(g * stride * inner, (g * stride + keep) * inner), g * keep * inner);
  return out;
}
