// Step scores (inseq's step functions: probability, entropy, rank, top-k) of every answer token, computed in
// float64 from the full next-token distribution at q_t = promptLength + t − 1:
//   logprob[t] = log softmax(z_t)[answer_t];  entropy[t] = −Σ_v p_v log p_v (nats);
//   rank[t] = #{v : z_t[v] > z_t[answer_t]} (0 = the top token);  top5[t] = the five most probable ids.
import type { StepScoresJson } from '../../../shared/run';
import type { SessionHandle } from '../runtime';
import { answerRowLogits } from './row-logits';

export const STEP_SCORES_TOP = 5;

/** Log-softmax of one logits row in float64. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) if (row[v] > max) max = row[v];
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v] - max);
  const shift = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let v = 0; v < row.length; v++) out[v] = row[v] - shift;
  return out;
}

/** Entries strictly above `id` (ties do not count against it). */
export function rankOf(values: ArrayLike<number>, id: number): number {
  let rank = 0;
  for (let v = 0; v < values.length; v++) if (values[v] > values[id]) rank++;
  return rank;
}

/** The `count` largest entries, largest first (lower id first among ties). */
export function topEntries(values: ArrayLike<number>, count: number): number[] {
  const best: number[] = [];
  for (let v = 0; v < values.length; v++) {
    if (best.length === count && values[v] <= values[best[count - 1]]) continue;
    let at = best.length;
    while (at > 0 && values[best[at - 1]] < values[v]) at--;
    best.splice(at, 0, v);
    if (best.length > count) best.pop();
  }
  return best;
}

/** Step scores from answer rows' logits [answer, vocabulary] and the answer ids. */
export function stepScoresFromLogits(logits: Float32Array, vocabulary: number, answerIds: readonly number[]): StepScoresJson {
  const scores: StepScoresJson = { logprob: [], entropy: [], rank: [], top5: [] };
  answerIds.forEach((id, t) => {
    const logProbs = logSoftmax(logits.subarray(t * vocabulary, (t + 1) * vocabulary));
    let entropy = 0;
    for (let v = 0; v < vocabulary; v++) entropy -= Math.exp(logProbs[v]) * logProbs[v];
    const top = topEntries(logProbs, Math.min(STEP_SCORES_TOP, vocabulary));
    scores.logprob.push(logProbs[id]);
    scores.entropy.push(entropy);
    scores.rank.push(rankOf(logProbs, id));
    scores.top5.push({ ids: top, probabilities: top.map((v) => Math.exp(logProbs[v])) });
  });
  return scores;
}

/**
 * Step scores of a run's answer from one plain forward of the model's session.
 * Example: `await computeStepScores(session, [1, 450, 4996, 29889], 2)` → `{logprob: [-2.1, -0.4], rank: [3, 0], …}`.
 */
export async function computeStepScores(session: SessionHandle, ids: readonly number[], promptLength: number): Promise<StepScoresJson> {
  if (promptLength < 1 || ids.length <= promptLength) throw new Error(`step scores need a prompt and an answer of at least one token each (prompt ${promptLength}, answer ${ids.length - promptLength})`);
  const { logits, vocabulary } = await answerRowLogits(session, ids, promptLength);
  return stepScoresFromLogits(logits, vocabulary, ids.slice(promptLength));
}
