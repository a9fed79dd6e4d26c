// Memory of the forward-only methods (issue 16), the stages shared/memory-estimate.ts adds next to attention and
// gradients, and the batch sizes the engine uses, chosen here from the budget so that the estimate and the run agree.
// T = prompt + answer tokens, A = answer tokens, L layers, H heads, d hidden, I intermediate, V vocabulary,
// F = bytes of the ONNX file, W = its weights in float32, P = 4·H·T² (one layer's float32 [heads, T, T]):
//   sequence(T)   = 3·P + 4·T·(2·I + 6·d)   one sequence's forward activations at the peak layer: scores,
//                                           probabilities and their product, MLP and hidden tensors (no logits)
//   forward       SESSION·F + 2·W + (L + 1)·A·V·4 + 16·(2L + 2)·T·d + LOGITS·4·T·V + 3·P      (logit lens)
//                 the run's plain session, the residual-stream and readout graphs' sessions, every block's residual
//                 state (onnxruntime's output and its JavaScript copy), one layer's full logits and the rows kept
//   perturbation  SESSION·F + 2·W + batch·(sequence(T) + 8·T·d + 12·A·V)     (occlusion, faithfulness curves)
//                 the run's plain session, the gradient program's prepared graph and the target-head session; per
//                 batched item its activations, its edited embeddings (built per batch) and its answer rows' logits
//   value_zeroing SESSION·F + VZ_F·F + (batch + 1)·(VZ_P·L·P + 4·T·(2·I + 6·d))   the rewrite and its session
//                 (arena and pre-packing on); each copy's activations of every layer, [H, T, T] tensors included (the
//                 decomposed graph's arena holds them all), one unperturbed reference copy per batch
// Checked against CLI child processes on the 9 M builder llama (h128 × 4, vocabulary 32,000), 2026-12-02: occlusion +
// faithfulness at 256 tokens 744 MB estimated / 756 MB measured and the logit lens at 256 tokens 577 / 640 MB, both
// as first written; value zeroing's VZ_F and VZ_P fitted to its runs at 64 and 256 tokens (738 / 743 MB, 1,292 /
// 1,281 MB; the first rule, 3·P per copy and 5.2·F, was 18% and 47% under), and at 128 tokens, not used to fit, 851 /
// 936 MB.
// Batches: the largest that keeps the stage within the budget (up to 32 items per target-head run and 16 perturbed
// copies per value-zeroing run, the sizes used before the budget chose them), at least 1; a run whose batch of 1 does
// not fit is refused like any other over-budget run.
// memory-estimate.ts imports this module, so the few types both need are stated here structurally (no cycle).

/** One term of a stage (memory-estimate.ts MemoryPart). */
interface MemoryPart {
  name: string;
  bytes: number;
}

export const MAX_PERTURBATION_BATCH = 32;
export const MAX_VALUE_ZEROING_BATCH = 16;
/** Value zeroing's fitted coefficients (see the header). */
export const VALUE_ZEROING_COEFFICIENTS = Object.freeze({ VZ_F: 7.8, VZ_P: 8 });

/** Batch sizes the forward-only stages will use (absent: the method is not in the run). */
export interface ForwardBatches {
  /** Edited sequences per target-head run (occlusion, faithfulness). */
  perturbation?: number;
  /** Perturbed copies per value-zeroing run (plus the reference). */
  valueZeroing?: number;
}

export interface ForwardStage {
  stage: 'forward' | 'perturbation' | 'value_zeroing';
  parts: MemoryPart[];
}

/** The coefficients memory-estimate.ts fitted that these stages reuse. */
export interface SharedCoefficients {
  RUNTIME: number;
  SESSION: number;
  LOGITS: number;
}

/** Largest batch in [1, max] whose stage fits the budget (max without a budget). */
function batchWithin(budget: number | undefined, runtime: number, fixed: MemoryPart[], perItem: number, max: number, extra = 0): number {
  if (budget === undefined) return max;
  const left = budget - runtime - fixed.reduce((sum, part) => sum + part.bytes, 0);
  return Math.max(1, Math.min(max, Math.floor(left / perItem) - extra));
}

/** The rule's symbols as memory-estimate.ts derives them from the model and the run (see its header). */
export interface RuleSymbols {
  T: number;
  A: number;
  L: number;
  d: number;
  I: number;
  V: number;
  F: number;
  W: number;
  P: number;
}

/**
 * The stages of the run's forward-only methods and the batches they will run with.
 *
 * Example: the 9 M builder llama (F 36 MB) at 256 tokens with `occlusion` and a 12 GB budget →
 * `{stages: [{stage: 'perturbation', parts: [...]}], batches: {perturbation: 32}}` (744 MB with the runtime); with a
 * 600 MB budget the batch is 13 (592 MB), and below 497 MB even a batch of 1 does not fit (the run is refused).
 */
export function forwardMethodStages(symbols: RuleSymbols, run: { methods: readonly string[]; budgetBytes?: number }, c: SharedCoefficients): { stages: ForwardStage[]; batches: ForwardBatches } {
  const { T, A, L, d, I, V, F, W, P } = symbols;
  const sequence = 3 * P + 4 * T * (2 * I + 6 * d);
  const plain: MemoryPart = { name: 'plain session', bytes: c.SESSION * F };
  const stages: ForwardStage[] = [];
  const batches: ForwardBatches = {};
  const has = (method: string) => run.methods.includes(method);
  if (has('logit_lens')) {
    stages.push({
      stage: 'forward',
      parts: [
        plain,
        { name: 'residual-stream and readout sessions', bytes: 2 * W },
        { name: `residual states (${2 * L + 1} tensors)`, bytes: 16 * (2 * L + 2) * T * d },
        { name: 'one layer read out (full logits)', bytes: c.LOGITS * 4 * T * V + 3 * P },
        { name: 'answer rows of every layer', bytes: (L + 1) * A * V * 4 },
      ],
    });
  }
  if (has('occlusion') || has('faithfulness')) {
    const fixed: MemoryPart[] = [plain, { name: 'gradient program and target-head session', bytes: 2 * W }];
    const perItem = sequence + 8 * T * d + 12 * A * V;
    const batch = batchWithin(run.budgetBytes, c.RUNTIME, fixed, perItem, MAX_PERTURBATION_BATCH);
    batches.perturbation = batch;
    stages.push({ stage: 'perturbation', parts: [...fixed, { name: `edited sequences (${batch} per forward)`, bytes: batch * perItem }] });
  }
  if (has('value_zeroing')) {
    const { VZ_F, VZ_P } = VALUE_ZEROING_COEFFICIENTS;
    const fixed: MemoryPart[] = [plain, { name: 'session and graph rewrite', bytes: VZ_F * F }];
    const copy = VZ_P * L * P + 4 * T * (2 * I + 6 * d);
    const batch = batchWithin(run.budgetBytes, c.RUNTIME, fixed, copy, MAX_VALUE_ZEROING_BATCH, 1);
    batches.valueZeroing = batch;
    stages.push({ stage: 'value_zeroing', parts: [...fixed, { name: `${batch + 1} sequence copies per forward (every layer's activations)`, bytes: (batch + 1) * copy }] });
  }
  return { stages, batches };
}
