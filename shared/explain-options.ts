// Options of the explanation methods, shared by the CLI, the API and the engine.

export const METHOD_IDS = ['attention', 'saliency', 'grad_x_input', 'integrated_gradients', 'gradient', 'attention_norm', 'value_zeroing'] as const;
export type MethodId = (typeof METHOD_IDS)[number];

export const IG_BASELINES = ['zero', 'pad', 'scaled'] as const;
export type IgBaseline = (typeof IG_BASELINES)[number];

export const IG_RULES = ['midpoint', 'trapezoid', 'gauss-legendre'] as const;
export type IgRule = (typeof IG_RULES)[number];

/**
 * Where the integrated-gradients path points sit: `uniform` is the rule as Captum defines it; `geometric`
 * spreads the same rule over 16 decades of α near the baseline (the zero baseline's default, README).
 */
export const IG_SPACINGS = ['uniform', 'geometric'] as const;
export type IgSpacing = (typeof IG_SPACINGS)[number];

export const GRADIENT_TARGETS = ['token', 'sequence', 'contrastive'] as const;
export type GradientTarget = (typeof GRADIENT_TARGETS)[number];

export const SALIENCY_NORMS = ['l2', 'l1', 'max'] as const;
export type SaliencyNorm = (typeof SALIENCY_NORMS)[number];

export interface ExplainOptions {
  attentionRows: 'answer' | 'all';
  /** Manual attention mode: name patterns of the query and key projections (exact, glob or /regex/). */
  attentionManual?: { query: string; key: string };
  target: GradientTarget;
  /** Foil text or ids for contrastive targets. */
  foil?: string;
  foilIds?: number[];
  saliencyNorm: SaliencyNorm;
  /** Keep the raw gradient [row, col, hidden] (large). */
  keepRawGradient: boolean;
  igSteps: number;
  igBaseline: IgBaseline;
  igRule: IgRule;
  /** Unset: geometric for the zero baseline, uniform otherwise (the run states which was used). */
  igSpacing?: IgSpacing;
}

export const DEFAULT_EXPLAIN_OPTIONS: ExplainOptions = {
  attentionRows: 'answer',
  target: 'token',
  saliencyNorm: 'l2',
  keepRawGradient: false,
  igSteps: 32,
  // Measured (README): the pad-token baseline with Gauss–Legendre keeps completeness under 1% at 32 steps;
  // the zero baseline needs geometric spacing and ~128 steps on RMSNorm models.
  igBaseline: 'pad',
  igRule: 'gauss-legendre',
};
