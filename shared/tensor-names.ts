// Names of the tensors a run stores, in one place: the engine writes them, the store's export, experiment
// aggregation and the views read them. Axes: `attention.data` is [layer, head, row, col]; means and rollout
// [row, col]; `gradient.raw` [row, col, hidden]; per-position vectors [col].

/** Attention family outputs. */
export const ATTENTION_TENSORS = {
  data: 'attention.data',
  mean: 'attention.mean',
  rollout: 'attention.rollout',
  input: 'attention.input',
} as const;

/**
 * Encoder-decoder runs' other attention kinds, [layer, head, row, col] like attention.data (which holds the
 * decoder's self-attention): the encoder's self-attention (rows and cols are source tokens) and the
 * cross-attention (rows are answer rows, cols source tokens).
 */
export const SEQ2SEQ_ATTENTION_TENSORS = { encoder: 'attention.encoder.data', cross: 'attention.cross.data' } as const;

/** Gradient family outputs. */
export const GRADIENT_TENSORS = {
  saliency: 'gradient.saliency',
  gradXInput: 'gradient.gradXInput',
  sequenceSaliency: 'gradient.sequence.saliency',
  sequenceGradXInput: 'gradient.sequence.gradXInput',
  raw: 'gradient.raw',
  /** Encoder-decoder runs: the raw gradient over the source [row, s, hidden]. */
  sourceRaw: 'gradient.source.raw',
  igAttributions: 'integratedGradients.attributions',
} as const;

/** Attention norm (Kobayashi et al. 2020): [layer, head, row, col] and its mean [row, col]. */
export const ATTENTION_NORM_TENSORS = { data: 'attentionNorm.data', mean: 'attentionNorm.mean' } as const;
