// Options of the explanation methods, shared by the CLI, the API and the engine. EXPLAIN_OPTION_SPECS is the
// one table of what each option accepts: API validation (shared/api-validation) and the CLI flags
// (main/cli/explain-command) are derived from it; the method catalog (shared/method-catalog) says which
// method reads which option.

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

export const ATTENTION_ROWS = ['answer', 'all'] as const;

/** What replaces an occluded (or deleted, for faithfulness) token embedding: zeros (Captum's default), or the pad or unk token's embedding. */
export const OCCLUSION_BASELINES = ['zero', 'pad', 'unk'] as const;
export type OcclusionBaseline = (typeof OCCLUSION_BASELINES)[number];

/** Occlude one token at a time, or whole words (tokenizer word boundaries). */
export const OCCLUSION_SPANS = ['token', 'word'] as const;
export type OcclusionSpan = (typeof OCCLUSION_SPANS)[number];

export interface ExplainOptions {
  attentionRows: (typeof ATTENTION_ROWS)[number];
  /** Manual attention mode: name patterns of the query and key projections (exact, glob or /regex/). */
  attentionManual?: { query: string; key: string };
  target: GradientTarget;
  /** Foil text or ids for contrastive targets. */
  foil?: string;
  foilIds?: number[];
  saliencyNorm: SaliencyNorm;
  /** Also store the raw gradient [row, col, hidden] (large): the same as adding the `gradient` method. */
  keepRawGradient: boolean;
  igSteps: number;
  igBaseline: IgBaseline;
  igRule: IgRule;
  /** Unset: geometric for the zero baseline, uniform otherwise (the run states which was used). */
  igSpacing?: IgSpacing;
  /** Unset: zero (Captum's feature-ablation default). Also what faithfulness curves delete with. */
  occlusionBaseline?: OcclusionBaseline;
  /** Unset: token. */
  occlusionSpan?: OcclusionSpan;
  /** Logit lens: name pattern of the residual-stream tensors (L or L + 1 of them), when the structural search fails. */
  logitLensManual?: string;
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
  occlusionBaseline: 'zero',
  occlusionSpan: 'token',
};

/** What one scalar option accepts. Composite options (attentionManual, foilIds) are checked by hand. */
export type OptionKind =
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'text'; max: number };

export interface ExplainOptionSpec {
  key: keyof ExplainOptions;
  /** The CLI flag (without `--`). */
  flag: string;
  value: OptionKind;
  /** One line for help texts. */
  help: string;
}

/**
 * The scalar options, in help order. Example: the `igSteps` row makes the API accept
 * `options: {igSteps: 64}` (an integer 1–4096) and the CLI accept `--ig-steps 64`.
 */
export const EXPLAIN_OPTION_SPECS: readonly ExplainOptionSpec[] = Object.freeze([
  { key: 'attentionRows', flag: 'attention-rows', value: { kind: 'choice', choices: ATTENTION_ROWS }, help: 'attention rows stored: the answer rows or every row' },
  { key: 'target', flag: 'target', value: { kind: 'choice', choices: GRADIENT_TARGETS }, help: 'what gradients differentiate: each answer token, the whole answer, or answer − foil' },
  { key: 'foil', flag: 'foil', value: { kind: 'text', max: 10_000 }, help: 'the foil of a contrastive target' },
  { key: 'saliencyNorm', flag: 'saliency-norm', value: { kind: 'choice', choices: SALIENCY_NORMS }, help: 'norm of the gradient over the hidden dimension' },
  { key: 'keepRawGradient', flag: 'raw-gradient', value: { kind: 'boolean' }, help: 'also store the raw gradient (the `gradient` method)' },
  { key: 'igSteps', flag: 'ig-steps', value: { kind: 'integer', min: 1, max: 4096 }, help: 'integrated-gradients path points' },
  { key: 'igBaseline', flag: 'ig-baseline', value: { kind: 'choice', choices: IG_BASELINES }, help: 'integrated-gradients baseline' },
  { key: 'igRule', flag: 'ig-rule', value: { kind: 'choice', choices: IG_RULES }, help: 'integrated-gradients quadrature rule' },
  { key: 'igSpacing', flag: 'ig-spacing', value: { kind: 'choice', choices: IG_SPACINGS }, help: 'integrated-gradients point spacing' },
  { key: 'occlusionBaseline', flag: 'occlusion-baseline', value: { kind: 'choice', choices: OCCLUSION_BASELINES }, help: 'what an occluded (or, for faithfulness, deleted) token embedding becomes' },
  { key: 'occlusionSpan', flag: 'occlusion-span', value: { kind: 'choice', choices: OCCLUSION_SPANS }, help: 'occlude one token at a time or whole words' },
  { key: 'logitLensManual', flag: 'logit-lens-manual', value: { kind: 'text', max: 500 }, help: 'logit lens: name pattern of the residual-stream tensors, when the structural search fails' },
] satisfies ExplainOptionSpec[]);
