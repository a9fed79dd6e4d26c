// Integrated gradients (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks"):
//   IG_t = Σ_h (e_t,h − e'_t,h) · ∫₀¹ ∂f/∂e_t,h (e' + α(e − e')) dα
// with f the summed answer log-probability (the sequence target), e the input embeddings and e' a baseline;
// the integral is a quadrature rule (./quadrature). Completeness (Σ_t IG_t = f(e) − f(e')) holds for the exact
// integral; its relative error measures the rule's accuracy.
//
// Baselines (every position, prompt and answer alike):
//   zero    e' = 0. With RMSNorm/LayerNorm models f is nearly flat along most of the path and changes abruptly
//           near α ≈ 0, where the norm's input passes through its epsilon scale; uniform rules miss it.
//   pad     e'_t = embedding of the pad token (or unk when there is no pad token): a "neutral token" baseline
//           that stays inside the embedding distribution, so the path is smooth.
//   scaled  e' = s·e (s = 0.1 by default): the input shrunk toward zero, avoiding the steep region just above zero.
import type { IgSpacing } from '../../../../shared/explain-options';
import type { QuadratureRule } from './quadrature';

export type BaselineKind = 'zero' | 'pad' | 'scaled';

/** Completeness errors above this fraction get a warning in the result. */
const COMPLETENESS_WARNING = 0.05;

export interface IntegratedGradientsSettings {
  steps: number;
  baseline: BaselineKind;
  rule: QuadratureRule;
  /** Factor of the scaled baseline (default 0.1). */
  scale?: number;
  /** Token whose embedding is the pad baseline (default: the config's pad token, else unk/0). */
  baselineTokenId?: number;
  /**
   * Where the path points sit: 'uniform' (the rule as is) or 'geometric' (dense near the baseline, see
   * quadrature.ts). Default: geometric for the zero baseline, uniform otherwise.
   */
  spacing?: IgSpacing;
  /** Path points per session run (default chosen from the model size). */
  batchSize?: number;
  /**
   * Which graphs compute the path points: 'combined' (forward and reverse in one graph, several points per run, every
   * activation kept) or 'checkpointed' (one point at a time through the forward and checkpointed reverse passes of
   * answer rows, with the summed target as its one row). Default: combined while one point fits the memory budget.
   */
  passes?: IgPasses;
}

export type IgPasses = 'combined' | 'checkpointed';

export interface IntegratedGradientsResult {
  steps: number;
  baseline: BaselineKind;
  rule: QuadratureRule;
  spacing: IgSpacing;
  /** No spacing was asked for: the baseline's default applied. */
  spacingDefaulted: boolean;
  /** Per position: Σ_h (e − e') ⊙ Σ_k w_k ∇f(path point k). */
  attributions: Float32Array;
  /** f(e) − f(e'). */
  delta: number;
  /** |Σ attributions − delta| / |delta|. */
  completenessError: number;
  warning?: string;
  /** Why the baseline differs from the one asked for, or how it was sampled (a zero pad embedding). */
  note?: string;
  /** Path points per run of the combined graph (from the memory budget; the numbers do not depend on it). */
  pointsPerRun?: number;
  passes?: IgPasses;
}

/** Baseline embeddings [positions, hidden]. */
export function baselineEmbeddings(
  kind: BaselineKind,
  input: Float32Array,
  hidden: number,
  options: { table?: Float32Array; tokenId?: number; scale?: number },
): Float32Array {
  if (kind === 'zero') return new Float32Array(input.length);
  if (kind === 'scaled') return input.map((v) => v * (options.scale ?? 0.1));
  if (kind === 'pad') {
    const { table, tokenId } = options;
    if (!table || tokenId === undefined) throw new Error('the pad baseline needs the embedding table and a pad/unk token id');
    const row = table.subarray(tokenId * hidden, (tokenId + 1) * hidden);
    const out = new Float32Array(input.length);
    for (let offset = 0; offset < input.length; offset += hidden) out.set(row, offset);
    return out;
  }
  throw new Error(`unknown baseline '${kind as string}'; valid: zero, pad, scaled`);
}

/** Writes e' + α(e − e') into `out` at `offset`. */
export function interpolate(baseline: Float32Array, input: Float32Array, alpha: number, out: Float32Array, offset: number): void {
  for (let i = 0; i < input.length; i++) out[offset + i] = baseline[i] + alpha * (input[i] - baseline[i]);
}

/** Turns the weighted gradient sum Σ_k w_k ∇f_k [positions, hidden] into per-position attributions. */
export function attributionsFrom(
  weightedGradient: Float64Array,
  input: Float32Array,
  baseline: Float32Array,
  positions: number,
  hidden: number,
): Float32Array {
  const out = new Float32Array(positions);
  for (let t = 0; t < positions; t++) {
    let sum = 0;
    for (let h = 0; h < hidden; h++) {
      const i = t * hidden + h;
      sum += (input[i] - baseline[i]) * weightedGradient[i];
    }
    out[t] = sum;
  }
  return out;
}

/** Completeness error and warning for attributions against f(e) − f(e'). */
export function completeness(attributions: Float32Array, delta: number): { completenessError: number; warning?: string } {
  const total = attributions.reduce((a, v) => a + v, 0);
  const completenessError = Math.abs(total - delta) / Math.max(Math.abs(delta), 1e-12);
  const warning =
    completenessError > COMPLETENESS_WARNING
      ? `Integrated gradients are incomplete: the attributions sum to ${total.toPrecision(4)} but f(input) − f(baseline) = ${delta.toPrecision(4)} (error ${(100 * completenessError).toFixed(1)}% > ${100 * COMPLETENESS_WARNING}%); use more steps or another rule/baseline.`
      : undefined;
  return { completenessError, warning };
}

export type { QuadratureRule };
