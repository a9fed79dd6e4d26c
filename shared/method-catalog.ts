// The method catalog: every explanation method the workbench computes, in one table. Each method has one id,
// spelled the same on the CLI (`--methods`), in requests, in stored runs (`run.methods`) and in the engine;
// each per-token attribution a method yields (what token chips, compare and experiment aggregates show) has
// one id too. The CLI help and parsing, API validation, the New run form, the view method choosers, the
// experiment aggregation, the reports and the engine's registry (main/engine/explainers/registry) all read
// this table, so a new method is one engine module, one entry here and its test (README "Architecture: methods").
import type { ExplainOptions } from './explain-options';
import type { RunJson } from './run';

/**
 * Families share one computation per run and run in this order (cheaper first); each reports progress under
 * its own stage (shared/api PROGRESS_STAGES is derived from it).
 */
export const METHOD_FAMILIES = [
  { id: 'attention', stage: 'attention', label: 'One instrumented forward pass' },
  { id: 'gradient', stage: 'gradients', label: 'One forward pass and batched reverse passes of the derivative graph' },
  { id: 'forward', stage: 'forward', label: 'Plain forwards read out: the run’s logits, the residual stream through the final norm and lm_head' },
  { id: 'value_zeroing', stage: 'value_zeroing', label: 'Batched forwards of a rewritten graph, one per layer and key (its cost is stated first)' },
  // Last: faithfulness orders the positions by every attribution the earlier families produced.
  { id: 'perturbation', stage: 'perturbation', label: 'Batched forwards of edited input embeddings' },
] as const;
export type MethodFamily = (typeof METHOD_FAMILIES)[number]['id'];
export type FamilyStage = (typeof METHOD_FAMILIES)[number]['stage'];

/** A stored tensor a method writes; `axes` name the dimensions in order. */
export interface MethodOutput {
  tensor: string;
  /** Where the run JSON holds the same values at full precision (dotted path). */
  json: string;
  axes: readonly string[];
  encoding: 'float16' | 'float32';
  /** When it is written, if not always. */
  when?: string;
}

export interface MethodEntry {
  id: string;
  family: MethodFamily;
  /** Short name for forms and lists. */
  label: string;
  /** What it computes, one line (help texts, the New run form). */
  description: string;
  /** Whether its values can be negative (diverging colour scale) or are non-negative (sequential). */
  signed: boolean;
  /** Ticked in the New run form when it opens. */
  defaultSelected: boolean;
  /** A few words shown next to the label in the New run form. */
  hint: string;
  /**
   * Offered in the short lists: the `--methods` usage line and the New run form (the raw gradient is large and
   * rarely wanted: `--help` lists it, the API and `--raw-gradient` take it).
   */
  common: boolean;
  /** The explain options it reads (shared/explain-options EXPLAIN_OPTION_SPECS). */
  options: readonly (keyof ExplainOptions)[];
  /** The run JSON field it fills. */
  json: 'attention' | 'gradient' | 'integratedGradients' | 'steps' | 'logitLens' | 'occlusion' | 'faithfulness' | 'attentionNorm' | 'valueZeroing';
  outputs: readonly MethodOutput[];
}

/** The methods, in the order forms and help list them. */
export const METHOD_CATALOG = [
  {
    id: 'attention',
    hint: 'per layer and head, mean and rollout',
    family: 'attention',
    label: 'Attention',
    description: 'attention probabilities of every layer and head (teacher-forced), their mean, rollout and head statistics',
    signed: false,
    defaultSelected: true,
    common: true,
    options: ['attentionRows', 'attentionManual'],
    json: 'attention',
    outputs: [
      { tensor: 'attention.data', json: 'attention.data', axes: ['layer', 'head', 'row', 'col'], encoding: 'float16' },
      { tensor: 'attention.mean', json: 'attention.mean', axes: ['row', 'col'], encoding: 'float32' },
      { tensor: 'attention.rollout', json: 'attention.rollout', axes: ['row', 'col'], encoding: 'float32', when: 'the model has one head count across layers' },
      { tensor: 'attention.input', json: 'attention.input', axes: ['col'], encoding: 'float32' },
    ],
  },
  {
    id: 'attention_norm',
    hint: 'attention × value norm, same forward as attention',
    family: 'attention',
    label: 'Attention norm',
    description: 'attention weight times the norm of the value vector through the output projection (Kobayashi et al. 2020), every layer and head',
    signed: false,
    defaultSelected: false,
    common: true,
    options: ['attentionRows'],
    json: 'attentionNorm',
    outputs: [
      { tensor: 'attentionNorm.data', json: 'attentionNorm.data', axes: ['layer', 'head', 'row', 'col'], encoding: 'float16' },
      { tensor: 'attentionNorm.mean', json: 'attentionNorm.mean', axes: ['row', 'col'], encoding: 'float32' },
    ],
  },
  {
    id: 'saliency',
    hint: 'gradient norm per input token',
    family: 'gradient',
    label: 'Saliency',
    description: 'norm of the gradient of each answer token’s target w.r.t. each input embedding',
    signed: false,
    defaultSelected: true,
    common: true,
    options: ['target', 'foil', 'foilIds', 'saliencyNorm'],
    json: 'gradient',
    outputs: [
      { tensor: 'gradient.saliency', json: 'gradient.saliency', axes: ['row', 'col'], encoding: 'float32' },
      { tensor: 'gradient.sequence.saliency', json: 'gradient.sequence.saliency', axes: ['col'], encoding: 'float32' },
    ],
  },
  {
    id: 'grad_x_input',
    hint: 'signed',
    family: 'gradient',
    label: 'Gradient × input',
    description: 'gradient · input embedding per position (signed)',
    signed: true,
    defaultSelected: true,
    common: true,
    options: ['target', 'foil', 'foilIds'],
    json: 'gradient',
    outputs: [
      { tensor: 'gradient.gradXInput', json: 'gradient.gradXInput', axes: ['row', 'col'], encoding: 'float32' },
      { tensor: 'gradient.sequence.gradXInput', json: 'gradient.sequence.gradXInput', axes: ['col'], encoding: 'float32' },
    ],
  },
  {
    id: 'integrated_gradients',
    hint: 'whole answer, slower',
    family: 'gradient',
    label: 'Integrated gradients',
    description: 'integrated gradients of the summed answer log-probability (Sundararajan et al. 2017); whole answer, slower',
    signed: true,
    defaultSelected: false,
    common: true,
    options: ['igSteps', 'igBaseline', 'igRule', 'igSpacing'],
    json: 'integratedGradients',
    outputs: [{ tensor: 'integratedGradients.attributions', json: 'integratedGradients.attributions', axes: ['col'], encoding: 'float32' }],
  },
  {
    id: 'gradient',
    hint: '[row, col, hidden], large',
    family: 'gradient',
    label: 'Raw gradient',
    description: 'the raw gradient [row, col, hidden] (large; stored only when asked for, also by --raw-gradient)',
    signed: true,
    defaultSelected: false,
    common: false,
    options: ['target', 'foil', 'foilIds'],
    json: 'gradient',
    outputs: [{ tensor: 'gradient.raw', json: 'gradient.raw', axes: ['row', 'col', 'hidden'], encoding: 'float16' }],
  },
  {
    id: 'value_zeroing',
    hint: 'one forward per layer and key: slowest',
    family: 'value_zeroing',
    label: 'Value zeroing',
    description: 'cosine distance of each layer’s output at the answer rows when one key’s value vectors are zeroed (Mohebbi et al. 2023); one forward per layer and key, batched (its cost is printed before it runs)',
    signed: false,
    defaultSelected: false,
    common: true,
    options: [],
    json: 'valueZeroing',
    outputs: [
      { tensor: 'valueZeroing.data', json: 'valueZeroing.data', axes: ['layer', 'row', 'col'], encoding: 'float32' },
      { tensor: 'valueZeroing.mean', json: 'valueZeroing.mean', axes: ['row', 'col'], encoding: 'float32' },
    ],
  },
  {
    id: 'step_scores',
    hint: 'probability, entropy, rank, top 5',
    family: 'forward',
    label: 'Step scores',
    description: 'per answer token: log-probability, entropy (nats), rank and top 5 of the next-token distribution',
    signed: true,
    defaultSelected: false,
    common: true,
    options: [],
    json: 'steps',
    outputs: [
      { tensor: 'steps.logprob', json: 'steps.logprob', axes: ['row'], encoding: 'float32' },
      { tensor: 'steps.entropy', json: 'steps.entropy', axes: ['row'], encoding: 'float32' },
    ],
  },
  {
    id: 'logit_lens',
    hint: 'every layer read out',
    family: 'forward',
    label: 'Logit lens',
    description: 'each layer’s residual stream read out through the final norm and lm_head (log-probability, rank, top id)',
    signed: true,
    defaultSelected: false,
    common: true,
    options: ['logitLensManual'],
    json: 'logitLens',
    outputs: [{ tensor: 'logitLens.logprob', json: 'logitLens.logprob', axes: ['depth', 'row'], encoding: 'float32' }],
  },
  {
    id: 'occlusion',
    hint: 'one forward per position',
    family: 'perturbation',
    label: 'Occlusion',
    description: 'each token embedding (or word) replaced by a baseline; change of each answer token’s log-probability',
    signed: true,
    defaultSelected: false,
    common: true,
    options: ['occlusionBaseline', 'occlusionSpan'],
    json: 'occlusion',
    outputs: [
      { tensor: 'occlusion.perToken', json: 'occlusion.perToken', axes: ['row', 'col'], encoding: 'float32' },
      { tensor: 'occlusion.sequence', json: 'occlusion.sequence', axes: ['col'], encoding: 'float32' },
    ],
  },
  {
    id: 'faithfulness',
    hint: 'deletion/insertion curves of the methods above',
    family: 'perturbation',
    label: 'Faithfulness',
    description: 'deletion and insertion curves with AOPC for every attribution of the run, and a random-order control',
    signed: false,
    defaultSelected: true,
    common: true,
    options: ['occlusionBaseline'],
    json: 'faithfulness',
    // Curves keyed by attribution: JSON only (a few hundred numbers).
    outputs: [],
  },
] as const satisfies readonly MethodEntry[];

export type MethodId = (typeof METHOD_CATALOG)[number]['id'];
export const METHOD_IDS: readonly MethodId[] = Object.freeze(METHOD_CATALOG.map((entry) => entry.id));

const METHODS_BY_ID: Readonly<Record<string, MethodEntry>> = Object.freeze(Object.fromEntries(METHOD_CATALOG.map((entry) => [entry.id, entry])));

/** The catalog entry of a method id, or undefined for an unknown id. */
export function methodEntry(id: string): MethodEntry | undefined {
  return METHODS_BY_ID[id];
}

/** The family entry of a method id. */
export function familyOf(id: MethodId): (typeof METHOD_FAMILIES)[number] {
  return METHOD_FAMILIES.find((family) => family.id === METHODS_BY_ID[id].family)!;
}

/**
 * The methods a request computes: its list without duplicates, plus `gradient` when the raw-gradient option
 * asks for it (`--raw-gradient` is that method by another name).
 * @example requestedMethods(['saliency', 'saliency'], {keepRawGradient: true}) // ['saliency', 'gradient']
 */
export function requestedMethods(ids: readonly string[], options?: Partial<Pick<ExplainOptions, 'keepRawGradient'>>): string[] {
  const unique = [...new Set(ids)];
  if (options?.keepRawGradient && !unique.includes('gradient')) unique.push('gradient');
  return unique;
}

// ---------------------------------------------------------------------------------------------------------
// Per-token attributions: how a method's output becomes one value per position.

/** Where stored attribution mass comes from: a [row, col] matrix (rows summed; `answer`: answer rows only) or a [col] vector. */
export interface AttributionSource {
  tensor: string;
  rows?: 'answer' | 'all';
}

export interface AttributionEntry {
  id: string;
  /** The method that produces it. */
  method: MethodId;
  /** Full label (token views, legends). */
  label: string;
  /** Short label (chart series, compare menus). */
  shortLabel: string;
  /** The name `--view` takes. */
  viewName: string;
  signed: boolean;
  /** Shown as token chips and the answer × input heatmap (attention.input is an aggregate only). */
  chips: boolean;
  /** Preference in experiment aggregates and compare (lower first): the method a run is summarised by. */
  aggregateRank: number;
  /** Stored tensors giving its mass, first found wins (sequence-target gradients are the fallback). */
  sources: readonly AttributionSource[];
  /** Per-answer-token rows in the run JSON and how they are indexed (`all`: by query position); none for IG. */
  rows?: (run: RunJson) => { matrix?: number[][]; indexedBy: 'answer' | 'all' };
  /** Whole-answer values stored in the run JSON (else views average the rows). */
  sequence?: (run: RunJson) => number[] | undefined;
  /** Whether this run holds its values. */
  present: (run: RunJson) => boolean;
}

const attentionRows = (field: 'mean' | 'rollout') => (run: RunJson) => ({ matrix: run.attention?.[field], indexedBy: run.attention?.rows ?? 'answer' });

/** The attributions, in token-view display order. */
export const ATTRIBUTION_CATALOG = [
  {
    id: 'attention.mean',
    method: 'attention',
    label: 'Attention (mean over layers and heads)',
    shortLabel: 'Attention (mean)',
    viewName: 'attention',
    signed: false,
    chips: true,
    aggregateRank: 5,
    sources: [{ tensor: 'attention.mean', rows: 'answer' }],
    rows: attentionRows('mean'),
    present: (run: RunJson) => Boolean(run.attention?.mean?.length),
  },
  {
    id: 'attention.rollout',
    method: 'attention',
    label: 'Attention rollout',
    shortLabel: 'Attention rollout',
    viewName: 'rollout',
    signed: false,
    chips: true,
    aggregateRank: 4,
    sources: [{ tensor: 'attention.rollout', rows: 'answer' }],
    rows: attentionRows('rollout'),
    present: (run: RunJson) => Boolean(run.attention?.rollout?.length),
  },
  {
    id: 'attention.input',
    method: 'attention',
    label: 'Attention to input',
    shortLabel: 'Attention to input',
    viewName: 'attention-input',
    signed: false,
    chips: false,
    aggregateRank: 3,
    sources: [{ tensor: 'attention.input' }],
    present: (run: RunJson) => Boolean(run.attention?.input?.length),
  },
  {
    id: 'attention_norm',
    method: 'attention_norm',
    label: 'Attention norm (mean over layers and heads)',
    shortLabel: 'Attention norm',
    viewName: 'attention_norm',
    signed: false,
    chips: true,
    aggregateRank: 7,
    sources: [{ tensor: 'attentionNorm.mean', rows: 'answer' }],
    rows: (run: RunJson) => ({ matrix: run.attentionNorm?.mean, indexedBy: run.attentionNorm?.rows ?? 'answer' }),
    present: (run: RunJson) => Boolean(run.attentionNorm?.mean?.length),
  },
  {
    id: 'value_zeroing',
    method: 'value_zeroing',
    label: 'Value zeroing (mean over layers)',
    shortLabel: 'Value zeroing',
    viewName: 'value_zeroing',
    signed: false,
    chips: true,
    aggregateRank: 8,
    sources: [{ tensor: 'valueZeroing.mean', rows: 'all' }],
    rows: (run: RunJson) => ({ matrix: run.valueZeroing?.mean, indexedBy: 'answer' as const }),
    present: (run: RunJson) => Boolean(run.valueZeroing?.mean?.length),
  },
  {
    id: 'saliency',
    method: 'saliency',
    label: 'Saliency',
    shortLabel: 'Saliency',
    viewName: 'saliency',
    signed: false,
    chips: true,
    aggregateRank: 2,
    sources: [{ tensor: 'gradient.saliency', rows: 'all' }, { tensor: 'gradient.sequence.saliency' }],
    rows: (run: RunJson) => ({ matrix: run.gradient?.saliency, indexedBy: 'answer' as const }),
    sequence: (run: RunJson) => run.gradient?.sequence?.saliency,
    present: (run: RunJson) => Boolean(run.gradient?.saliency?.length || run.gradient?.sequence?.saliency?.length),
  },
  {
    id: 'grad_x_input',
    method: 'grad_x_input',
    label: 'Gradient × input',
    shortLabel: 'Gradient × input',
    viewName: 'grad_x_input',
    signed: true,
    chips: true,
    aggregateRank: 1,
    sources: [{ tensor: 'gradient.gradXInput', rows: 'all' }, { tensor: 'gradient.sequence.gradXInput' }],
    rows: (run: RunJson) => ({ matrix: run.gradient?.gradXInput, indexedBy: 'answer' as const }),
    sequence: (run: RunJson) => run.gradient?.sequence?.gradXInput,
    present: (run: RunJson) => Boolean(run.gradient?.gradXInput?.length || run.gradient?.sequence?.gradXInput?.length),
  },
  {
    id: 'integrated_gradients',
    method: 'integrated_gradients',
    label: 'Integrated gradients',
    shortLabel: 'Integrated gradients',
    viewName: 'integrated_gradients',
    signed: true,
    chips: true,
    aggregateRank: 0,
    sources: [{ tensor: 'integratedGradients.attributions' }],
    sequence: (run: RunJson) => run.integratedGradients?.attributions,
    present: (run: RunJson) => Boolean(run.integratedGradients?.attributions?.length),
  },
  {
    id: 'occlusion',
    method: 'occlusion',
    label: 'Occlusion',
    shortLabel: 'Occlusion',
    viewName: 'occlusion',
    signed: true,
    chips: true,
    aggregateRank: 6,
    sources: [{ tensor: 'occlusion.perToken', rows: 'all' }, { tensor: 'occlusion.sequence' }],
    rows: (run: RunJson) => ({ matrix: run.occlusion?.perToken, indexedBy: 'answer' as const }),
    sequence: (run: RunJson) => run.occlusion?.sequence,
    present: (run: RunJson) => Boolean(run.occlusion?.sequence?.length),
  },
] as const satisfies readonly AttributionEntry[];

export type AttributionId = (typeof ATTRIBUTION_CATALOG)[number]['id'];
export const ATTRIBUTION_IDS: readonly AttributionId[] = Object.freeze(ATTRIBUTION_CATALOG.map((entry) => entry.id));

const ATTRIBUTIONS_BY_ID: Readonly<Record<string, AttributionEntry>> = Object.freeze(
  Object.fromEntries(ATTRIBUTION_CATALOG.map((entry) => [entry.id, entry])),
);

/**
 * Spellings of attribution ids that older builds used (the token views' `attention_mean`): accepted where an id
 * is read back (saved links, reports), never written.
 */
const LEGACY_ATTRIBUTION_IDS: Readonly<Record<string, AttributionId>> = Object.freeze({
  attention_mean: 'attention.mean',
  attention_rollout: 'attention.rollout',
  attention_input: 'attention.input',
});

/**
 * The attribution id for a spelling, current or legacy; undefined when unknown.
 * @example attributionId('attention_mean') // 'attention.mean'
 */
export function attributionId(spelling: string): AttributionId | undefined {
  if (ATTRIBUTIONS_BY_ID[spelling]) return spelling as AttributionId;
  return LEGACY_ATTRIBUTION_IDS[spelling];
}

/** The catalog entry of an attribution id. */
export function attributionEntry(id: AttributionId): AttributionEntry {
  return ATTRIBUTIONS_BY_ID[id];
}

/** An attribution shown as token chips. */
export type ChipAttributionId = Extract<(typeof ATTRIBUTION_CATALOG)[number], { chips: true }>['id'];

/** Attributions shown as token chips, in display order. */
export const CHIP_ATTRIBUTIONS: readonly ChipAttributionId[] = Object.freeze(
  ATTRIBUTION_CATALOG.filter((entry) => entry.chips).map((entry) => entry.id as ChipAttributionId),
);

/** Attributions in aggregate preference order (the first one a run has summarises it). */
export const AGGREGATE_ATTRIBUTIONS: readonly AttributionId[] = Object.freeze(
  [...ATTRIBUTION_CATALOG].sort((a, b) => a.aggregateRank - b.aggregateRank).map((entry) => entry.id),
);
