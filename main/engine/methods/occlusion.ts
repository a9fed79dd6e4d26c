// Occlusion: leave-one-out feature ablation (Zeiler & Fergus 2014; Captum's FeatureAblation) of the token
// embeddings, forward passes only. The embedding at position j (the `inputs_embeds` the gradient methods use;
// positions are still added inside the graph) is replaced by a baseline vector:
//   perToken[t][j] = f_t(x) − f_t(x with e_j := baseline)     for j ≤ q_t = promptLength + t − 1, else exactly 0
//   sequence[j]    = Σ_t perToken[t][j]                        (= F(x) − F(x with e_j := baseline))
// Positions after q_t cannot change f_t in a causal model: they are not differenced but set to 0. With spans
// (a word or segment ablated whole), every position of a span carries the span's value (as Captum's feature masks).
import type { OcclusionJson } from '../../../shared/run';
import type { TargetForward } from './target-forward';

export interface OcclusionInput {
  forward: TargetForward;
  /** The run's token embeddings [T, hidden]. */
  input: Float32Array;
  /** The replacement vector [hidden]. */
  baseline: Float32Array;
  baselineName: string;
  ids: readonly number[];
  promptLength: number;
  /** Spans [start, end) to ablate whole (default: each position alone). */
  spans?: [number, number][];
  spanName?: string;
  signal?: AbortSignal;
}

/** `input` with positions [start, end) replaced by `baseline`. */
export function withBaseline(input: Float32Array, baseline: Float32Array, positions: Iterable<number>): Float32Array {
  const hidden = baseline.length;
  const edited = Float32Array.from(input);
  for (const position of positions) edited.set(baseline, position * hidden);
  return edited;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/**
 * Example: ids of length 10, promptLength 6 → perToken is 4 × 10, row 0 non-zero only in columns 0…5.
 */
export async function computeOcclusion(options: OcclusionInput): Promise<OcclusionJson> {
  const { forward, input, baseline, ids, promptLength } = options;
  const T = ids.length;
  const answer = T - promptLength;
  if (promptLength < 1 || answer < 1) throw new Error(`occlusion needs a prompt and an answer of at least one token each (prompt ${promptLength}, answer ${answer})`);
  // The last position predicts nothing in the answer: no span that starts there is worth a forward.
  const spans = (options.spans ?? range(0, T).map((j): [number, number] => [j, j + 1])).filter(([start]) => start <= T - 2);
  const before = forward.forwards;
  // Each edited input is made when its batch runs: all T of them at once would be T² · hidden floats.
  const edited = { length: spans.length + 1, at: (i: number) => (i === 0 ? input : withBaseline(input, baseline, range(...spans[i - 1]))) };
  const [original, ...ablated] = await forward.logProbs(edited, ids, promptLength, options.signal);
  const perToken = Array.from({ length: answer }, () => new Array<number>(T).fill(0));
  spans.forEach(([start, end], s) => {
    for (let t = 0; t < answer; t++) {
      const query = promptLength + t - 1;
      const delta = original[t] - ablated[s][t];
      for (let j = start; j < end && j <= query; j++) perToken[t][j] = delta;
    }
  });
  const sequence = new Array<number>(T).fill(0);
  for (const row of perToken) row.forEach((value, j) => (sequence[j] += value));
  const result: OcclusionJson = { perToken, sequence, baseline: options.baselineName, span: options.spanName ?? 'token', forwards: forward.forwards - before, batch: forward.batchSize(T) };
  if (options.spans) result.spans = options.spans;
  return result;
}
