// The acceptance rule of speculative sampling (Leviathan, Kalman & Matias 2023, "Fast Inference from
// Transformers via Speculative Decoding", Algorithm 1; Chen et al. 2023, "Accelerating Large Language Model
// Decoding with Speculative Sampling"). A small assistant drafts tokens d₁…d_k from its distributions q₁…q_k;
// the main model scores all of them in one forward, giving p₁…p_{k+1}. Draft dᵢ is kept with probability
// min(1, pᵢ(dᵢ)/qᵢ(dᵢ)); at the first rejection the token is drawn from norm(max(0, pᵢ − qᵢ)) instead and the
// rest of the drafts are dropped; when every draft is kept, one more token comes from p_{k+1}. Each emitted
// token is then distributed exactly as p: P(t) = q(t)·min(1, p(t)/q(t)) + (1 − Σ min(p, q))·max(0, p(t) − q(t))
// / Σ max(0, p − q) = min(p, q)(t) + max(0, p − q)(t) = p(t).
//
// p and q are the *sampling* distributions (temperature, top-k and top-p applied to each model's logits by
// the same code, samplingWeights), so what is preserved is exactly the distribution plain sampling draws
// from. Greedy decoding is the limit where both are one-hot: a draft is kept iff it is the main model's
// argmax, and a rejection emits that argmax — the plain greedy answer, token for token.
import { argmax, isGreedy, samplingWeights, type Random, type SamplingParams } from './sampling';

/** A probability for every token id (length = vocabulary, sums to 1). */
export type Distribution = Float64Array;

/**
 * The distribution `chooseToken` samples from, as a dense vector; one-hot on the argmax when greedy.
 * Example: `tokenDistribution([0, 5, 1], {})` → `[0, 1, 0]`.
 */
export function tokenDistribution(logits: ArrayLike<number>, params: SamplingParams): Distribution {
  const out = new Float64Array(logits.length);
  if (isGreedy(params)) {
    out[argmax(logits)] = 1;
    return out;
  }
  const { tokens, weights, total } = samplingWeights(logits, params);
  for (let position = 0; position < weights.length; position++) out[tokens ? tokens[position] : position] = weights[position] / total;
  return out;
}

/** Draws a token from a dense distribution (index order; the last non-zero entry absorbs rounding). */
export function sampleDistribution(distribution: Distribution, random: Random, total = 1): number {
  let remaining = random() * total;
  let last = 0;
  for (let token = 0; token < distribution.length; token++) {
    if (distribution[token] <= 0) continue;
    last = token;
    remaining -= distribution[token];
    if (remaining < 0) return token;
  }
  return last;
}

/** What verification made of one round of drafts. */
export interface Verdict {
  /** How many drafts, from the first, are kept. */
  accepted: number;
  /** The token after them: the replacement for the first rejected draft, or the bonus token when all were kept. */
  next: number;
}

/**
 * Verifies `drafts` (drawn from `assistant[i]`) against the main model's distributions `main` (one more row
 * than drafts: `main[i]` is the distribution at draft i's position, `main[drafts.length]` the one after the
 * last draft).
 *
 * Example (greedy, one-hot rows): main argmaxes [7, 9, 4], drafts [7, 8] → `{accepted: 1, next: 9}`.
 */
export function verifyDrafts(main: Distribution[], assistant: Distribution[], drafts: number[], random: Random): Verdict {
  if (main.length !== drafts.length + 1 || assistant.length !== drafts.length) {
    throw new Error(`verifyDrafts: ${drafts.length} drafts need ${drafts.length + 1} main rows and ${drafts.length} assistant rows`);
  }
  for (let index = 0; index < drafts.length; index++) {
    const token = drafts[index];
    const p = main[index][token];
    const q = assistant[index][token];
    // Certain outcomes draw nothing, so greedy decoding consumes no random numbers.
    const keep = p >= q || (p > 0 && random() < p / q);
    if (keep) continue;
    return { accepted: index, next: sampleResidual(main[index], assistant[index], random) };
  }
  return { accepted: drafts.length, next: sampleDistribution(main[drafts.length], random) };
}

/** Draws from norm(max(0, p − q)); falls back to p if the residual is empty (only when p = q up to rounding). */
function sampleResidual(p: Distribution, q: Distribution, random: Random): number {
  const residual = new Float64Array(p.length);
  let total = 0;
  for (let token = 0; token < p.length; token++) {
    const value = p[token] - q[token];
    if (value > 0) {
      residual[token] = value;
      total += value;
    }
  }
  return total > 0 ? sampleDistribution(residual, random, total) : sampleDistribution(p, random);
}
