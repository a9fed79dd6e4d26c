// Types of a run: the unit the whole app stores, explains, shows and exports.
// The run JSON (`schema: "llm-explainer.run/1"`) is a public contract: fields are added, never renamed.

export const RUN_SCHEMA = 'llm-explainer.run/1' as const;

export const TASK_TYPES = ['chat', 'completion', 'question_answering', 'translation', 'summarization'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const DEVICES = ['auto', 'cpu', 'cuda', 'dml', 'coreml'] as const;
export type DeviceChoice = (typeof DEVICES)[number];

/**
 * running: a live process is working on it; done: stored with every result; failed: ended with an error;
 * cancelled: stopped by the user (Ctrl-C, SIGTERM, SIGHUP, cancel); interrupted: its process ended without
 * finishing it (killed, crashed, power loss), found when a store is opened or listed. README "Guarantees".
 */
export const RUN_STATUSES = ['running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export type TokenRole = 'prompt' | 'answer';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export interface ModelInfo {
  /** Absolute path of the model folder. */
  path: string;
  /** Folder name, or `_name_or_path` from config.json. */
  name: string;
  /** `model_type` from config.json, e.g. "llama", "gpt2". */
  architecture: string;
  /** sha256 of the ONNX file the run used. */
  sha256: string;
  /** The ONNX file relative to the folder, e.g. "onnx/model.onnx". */
  file?: string;
  dtype?: string;
}

export interface GenerationParams {
  maxNewTokens: number;
  /** 0 or undefined means greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Extra stop strings (the tokenizer's EOS always stops). */
  stop?: string[];
  /** The answer was supplied by the user (teacher forcing), not generated. */
  supplied?: boolean;
  /** Assisted generation: a small model drafted tokens that this run's model verified (README "Assisted generation"). */
  assistant?: AssistantRecord;
}

/** What the assistant of an assisted generation did for each answer token. */
export type AssistantOutcome = 'accepted' | 'rejected' | 'none';

/**
 * Assisted (speculative) generation of a run's answer.
 * Example: `{model: {path: '/m/draft', name: 'draft', sha256: 'ab…'}, draftTokens: 5, proposed: 20, accepted: 14,
 * acceptanceRate: 0.7, rounds: 6, outcomes: ['accepted', 'rejected', …], timing: {assistedMs: 41, plainMs: 55, …}}`.
 */
export interface AssistantRecord {
  model: { path: string; name: string; sha256: string };
  /** Most tokens drafted per round (--assistant-tokens). */
  draftTokens: number;
  /** Drafted tokens the main model verified (up to where generation stopped). */
  proposed: number;
  /** Drafted tokens kept in the answer. */
  accepted: number;
  /** accepted / proposed (0 when nothing was proposed). */
  acceptanceRate: number;
  /** Verification forwards of the main model (plain generation needs one per answer token). */
  rounds?: number;
  /**
   * Per answer token: "accepted" (the assistant's draft, kept), "rejected" (the assistant proposed another token
   * here; this is the main model's replacement), "none" (nothing was proposed: the bonus token after a fully
   * accepted round, or a step without room to draft).
   */
  outcomes?: AssistantOutcome[];
  timing?: AssistantTiming;
}

/** Assisted generation against the main model alone, measured in the same run (same parameters and seed). */
export interface AssistantTiming {
  /** Wall time of the assisted generation (both models). */
  assistedMs: number;
  /** Wall time of plain generation with the main model alone. */
  plainMs: number;
  /** Tokens the plain generation produced (sampled answers can differ in length). */
  plainTokens: number;
  /** (plainMs / plainTokens) / (assistedMs / answer tokens): above 1 means assisted was faster per token. */
  speedup: number;
  /** Greedy runs: whether the plain answer was token-for-token the assisted one (it must be). */
  plainIdentical?: boolean;
}

export interface DeviceInfo {
  requested: DeviceChoice;
  /** The execution provider actually used. */
  used: string;
  /** Why the requested device was not used, when it was not. */
  fallbackReason?: string;
}

export interface RunTokens {
  ids: number[];
  text: string[];
  role: TokenRole[];
  /** Assisted generation: drafted[i] is true where answer token i (position promptLength + i) was proposed by the assistant and accepted. */
  drafted?: boolean[];
  /** Whether each token starts a word, by the tokenizer's own boundaries (▁, Ġ/Ċ, ##; shared/word-groups); absent in runs stored before it. */
  wordStarts?: boolean[];
}

/** Milliseconds per stage, e.g. {load: 120, generate: 80, attention: 40, gradients: 300, store: 5}. */
export type Timings = Record<string, number>;

export interface RunInput {
  task: TaskType;
  system?: string;
  messages?: ChatMessage[];
  /** Raw prompt (completion-style) when no messages are given. */
  prompt?: string;
  /**
   * A run made from token ids alone (`--input-ids`): the prompt ids decoded to text, so lists, search and
   * reports can show it. The ids (tokens.ids) stay what the run is; this text is never re-tokenized.
   */
  decodedPrompt?: string;
}

/** Attention export (issue 3). Axes: data[layer][head][row][col]. */
export interface AttentionJson {
  layers: number;
  heads: number;
  rows: 'answer' | 'all';
  /** Query position of each row (answer rows: promptLength + t − 1). */
  rowPositions?: number[];
  /** Probabilities [layer][head][row][col]; cols are all positions. */
  data: number[][][][];
  /** Mean over layers and heads [row][col]. */
  mean: number[][];
  /** Attention rollout (Abnar & Zuidema 2020, residual 0.5) [row][col]. */
  rollout: number[][];
  /** How much the answer rows attend to each position (prompt columns; README defines it). */
  input: number[];
  /** Per-head statistics [layer][head]. */
  headStats?: HeadStatsJson;
  /** "graph" (probabilities from the instrumented graph) or "manual" (from matched query/key projections). */
  source?: string;
  encoding?: TensorEncodingNote;
  /**
   * Encoder-decoder runs: the encoder's self-attention [layer][head][s][s'], its rollout [s][s'], its mean over
   * layers and heads [s][s'] and per-head statistics (rows: every source token). `data` is kept as the tensor
   * attention.encoder.data (empty in stored JSON unless asked for, like attention.data).
   */
  encoder?: { data: number[][][][]; rollout: number[][]; mean?: number[][]; headStats?: HeadStatsJson; encoding?: TensorEncodingNote };
  /**
   * Encoder-decoder runs: cross-attention of each answer row over the source [layer][head][row][s], its mean
   * [row][s] and per-head statistics (previous-token share: null, the source has no "previous" of a decoder row).
   * `data` is kept as the tensor attention.cross.data.
   */
  cross?: { data: number[][][][]; mean: number[][]; headStats?: HeadStatsJson; encoding?: TensorEncodingNote };
}

/** The source of an encoder-decoder run: the encoder's token ids and per-token texts, and the text they came from. */
export interface SourceJson {
  ids: number[];
  text: string[];
  /** The rendered source text (task prefix included); absent for runs made from --input-ids alone. */
  rendered?: string;
  /** Whether each source token starts a word (as RunTokens.wordStarts). */
  wordStarts?: boolean[];
}

/**
 * Attention norm (Kobayashi et al. 2020): α_ij · ‖v_j W_o,h‖ per [layer][head][row][col], rows as attention's.
 * `data` is kept as a tensor in the store (empty in stored JSON unless asked for, like attention.data).
 */
export interface AttentionNormJson {
  layers: number;
  heads: number;
  rows: 'answer' | 'all';
  rowPositions: number[];
  data: number[][][][];
  /** Mean over layers and heads [row][col]. */
  mean: number[][];
  encoding?: TensorEncodingNote;
}

/** Value zeroing (Mohebbi et al. 2023): cosine distance of layer l's output at answer row t when v_j := 0. */
export interface ValueZeroingJson {
  layers: number;
  rowPositions: number[];
  /** [layer][row][col], raw distances (not row-normalised); 0 for col > the row's query position. */
  data: number[][][];
  /** Mean over layers [row][col]. */
  mean: number[][];
  /** What it cost: perturbed sequences, forward passes of batchSize + 1 copies (batchSize from the memory budget), milliseconds. */
  cost: { sequences: number; forwards: number; batchSize: number; ms: number };
}

/** Per-head statistics, each [layer][head], averaged over the stored rows. */
export interface HeadStatsJson {
  entropy: number[][];
  maxWeight: number[][];
  firstToken: number[][];
  previousToken: number[][];
}

/** Gradient export (issue 4): row t is answer token t's target, cols are all positions. */
export interface GradientJson {
  /** "token" (row t: log p(answer_t | prefix)), "sequence" or "contrastive". */
  target?: string;
  /** The target value of each row (log-probability, or the contrastive difference). */
  targetValues?: number[];
  saliency?: number[][];
  gradXInput?: number[][];
  raw?: number[][][];
  sequence?: { saliency?: number[]; gradXInput?: number[] };
  encoding?: TensorEncodingNote;
  /**
   * Encoder-decoder runs: the same targets with respect to the source token embeddings [row][s]; `raw` [row][s][hidden]
   * (the `gradient` method) is stored as a tensor and filled on export like `raw`.
   */
  source?: { saliency?: number[][]; gradXInput?: number[][]; raw?: number[][][] };
  /** How the rows were computed (from the run's memory budget; the numbers do not depend on it). */
  chunking?: GradientChunkingJson;
}

/**
 * Answer rows per reverse pass and passes run (sized from the memory budget's headroom over the estimate), and the
 * row blocks causal attention was computed in (0: none). Example: `{rowsPerReversePass: 2, reversePasses: 16,
 * attentionRowBlocks: 5}`.
 */
export interface GradientChunkingJson {
  rowsPerReversePass: number;
  reversePasses: number;
  attentionRowBlocks: number;
  /** Whether the reverse passes recomputed each block's forward tensors from the residual stream (absent before). */
  layerCheckpoints?: boolean;
}

export interface IntegratedGradientsJson {
  steps: number;
  baseline: string;
  rule: string;
  /** Where the path points sit: "uniform" in α, or "geometric" (the zero baseline's default; README explains). */
  spacing?: string;
  /** True when no spacing was asked for and the baseline's default (geometric for zero) applied. */
  spacingDefaulted?: boolean;
  attributions: number[];
  delta: number;
  completenessError: number;
  warning?: string;
  /** Why the baseline differs from the one asked for (a pad token whose embedding is all zeros). */
  note?: string;
  /** Encoder-decoder runs: "source" (attributions over the source tokens; decoder embeddings held at their values). */
  input?: 'source';
  /** Path points per run of the combined graph (from the run's memory budget; the numbers do not depend on it). */
  pointsPerRun?: number;
  /**
   * "combined" (forward and reverse in one graph, every activation of each point kept) or "checkpointed" (one point
   * at a time through the answer rows' forward and checkpointed reverse passes: when one point does not fit).
   */
  passes?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Issue 16 methods. Row t = answer token t, predicted at query position q_t = promptLength + t − 1;
// f_t = log p(answer_t | prefix); F = Σ_t f_t.

/** Step scores (inseq's step functions), one entry per answer token, from the full next-token distribution at q_t. */
export interface StepScoresJson {
  /** f_t (natural log). */
  logprob: number[];
  /** Entropy of the next-token distribution at q_t, in nats. */
  entropy: number[];
  /** Vocabulary entries with a strictly larger log-probability than answer_t (0 = top). */
  rank: number[];
  /** The five most probable next tokens at q_t, most probable first; `texts` their token strings (runs since 2026-12-02). */
  top5: { ids: number[]; probabilities: number[]; texts?: string[] }[];
}

/** Logit lens: the residual stream after l blocks (l = 0..layers) read out through the final norm and lm_head. */
export interface LogitLensJson {
  /** Number of blocks L; the arrays have L + 1 layers. */
  layers: number;
  /** log p(answer_t) read at layer l: [layer][t]. */
  logprob: number[][];
  /** Entries with a strictly larger log-probability: [layer][t]. */
  rank: number[][];
  /** Argmax id: [layer][t]. */
  top: number[][];
  /** The argmax ids' token strings: [layer][t] (runs since 2026-12-02; the run JSON carries no vocabulary otherwise). */
  topText?: string[][];
  /** "graph" (residual adds found by structure) or "manual" (--logit-lens-manual pattern). */
  source: 'graph' | 'manual';
  /** The graph tensors read as the residual stream, l = 0..L. */
  residuals: string[];
}

/** Occlusion (leave-one-out feature ablation of the token embeddings). */
export interface OcclusionJson {
  /** f_t(x) − f_t(x with e_j := baseline): [t][j]; exactly 0 for j ≥ q_t + 1. */
  perToken: number[][];
  /** The same for F: [j]. */
  sequence: number[];
  /** "zero", "pad" or "unk". */
  baseline: string;
  /** "token" (one position at a time) or "word" (each word ablated whole; its value shown at each of its positions). */
  span: string;
  /** The ablated spans [start, end) when span is not "token". */
  spans?: [number, number][];
  /** Forward passes it took (batched). */
  forwards: number;
  /** Edited sequences per session run (sized from the memory budget); absent in runs stored before it was recorded. */
  batch?: number;
}

/** Deletion and insertion curves of one attribution method, at k = 0, 10, …, 100 % of the prompt positions. */
export interface FaithfulnessCurveJson {
  /** F with the top k% positions replaced by the baseline; deletion[0] = F(x). */
  deletion: number[];
  /** F with only the top k% positions kept (the rest baseline); insertion[10] = F(x). */
  insertion: number[];
  /** Mean over the 11 points of F(x) − deletion[k] (higher: the method found what matters). */
  aopcDeletion: number;
  /** Mean over the 11 points of insertion[k] − insertion[0] (higher: the method found what matters). */
  aopcInsertion: number;
}

/** What the faithfulness curves cost and how they were made. */
export interface FaithfulnessCostJson {
  baseline: string;
  /** Prompt positions ordered and removed. */
  positions: number;
  /** Forward passes (batched). */
  forwards: number;
  /** Edited sequences per session run (sized from the memory budget); absent in runs stored before it was recorded. */
  batch?: number;
  /** Random orders averaged for the "random" control. */
  randomOrders: number;
  milliseconds: number;
}

/** How stored tensors were encoded, stated by `show --json`. */
export interface TensorEncodingNote {
  dtype: string;
  /** Largest absolute error of a decoded value, or relative error bound, as documented in README. */
  maxAbsError?: number;
  maxRelError?: number;
}

export interface RunJson {
  schema: typeof RUN_SCHEMA;
  id: string;
  createdAt: string;
  status: RunStatus;
  error?: string;
  model: ModelInfo;
  task: TaskType;
  input: RunInput;
  device: DeviceInfo;
  tokens: RunTokens;
  promptLength: number;
  answerText: string;
  generation: GenerationParams;
  timings: Timings;
  methods: string[];
  experiment: string;
  tags: string[];
  notes: string;
  appVersion: string;
  /** Encoder-decoder runs: what the encoder read. `tokens` are then the decoder's ids (start token first, promptLength 1). */
  source?: SourceJson;
  attention?: AttentionJson;
  attentionNorm?: AttentionNormJson;
  valueZeroing?: ValueZeroingJson;
  gradient?: GradientJson;
  integratedGradients?: IntegratedGradientsJson;
  // Issue 16 methods (one field each; see the block of types below).
  steps?: StepScoresJson;
  logitLens?: LogitLensJson;
  occlusion?: OcclusionJson;
  /** Keyed by chip attribution id (shared/method-catalog, e.g. "saliency", "attention.mean") and "random" (the control). */
  faithfulness?: Record<string, FaithfulnessCurveJson>;
  faithfulnessCost?: FaithfulnessCostJson;
  /** What the user should know about this run's tokens (a supplied answer that maps to the unknown token). */
  warnings?: string[];
  /** Link to the run this one re-ran (experiments issue). */
  sourceRunId?: string;
  /** The memory estimate the run was admitted with, and the peak it reached (shared/memory-estimate). */
  memory?: RunMemoryJson;
  /** Which sessions were already open in the process (warm) and which the run loaded (cold). */
  sessions?: RunSessionsJson;
}

/**
 * Warm or cold, per session kind the run used: `model` is the folder with its plain session (tokenizer, config,
 * file hash), `attention` the instrumented graph, `gradients` the derivative program at this run's lengths.
 * Example: the second run of a model in the app → `{model: 'warm', attention: 'warm'}`.
 */
export interface RunSessionsJson {
  model: SessionTemperature;
  attention?: SessionTemperature;
  gradients?: SessionTemperature;
  /** Occlusion's and the faithfulness curves' target-head session. */
  perturbation?: SessionTemperature;
  /** Value zeroing's rewritten graph. */
  valueZeroing?: SessionTemperature;
}

export type SessionTemperature = 'warm' | 'cold';

/** Estimated and measured memory of a run, in bytes. */
export interface RunMemoryJson {
  /** shared/memory-estimate MEMORY_RULE_VERSION. */
  rule: number;
  estimateBytes: number;
  /** The stage the estimate peaks in: generate, attention, gradients, forward (logit lens), perturbation or value_zeroing. */
  estimateStage: string;
  budgetBytes: number;
  /** The process's peak resident memory when the run finished (a long-lived worker: its peak so far). */
  peakRssBytes: number;
}

/** One row of the runs list (no tensors). */
export interface RunSummary {
  id: string;
  createdAt: string;
  status: RunStatus;
  modelName: string;
  modelPath: string;
  architecture: string;
  task: TaskType;
  promptExcerpt: string;
  answerExcerpt: string;
  methods: string[];
  experiment: string;
  tags: string[];
}

/**
 * Whether a timing stage ran on warm or cold sessions, for display next to its time; undefined for stages without
 * sessions (generate reuses the model's) or runs from before sessions were recorded.
 * Example: `stageTemperature({model: 'warm', attention: 'cold'}, 'load')` → 'warm'.
 */
export function stageTemperature(sessions: RunSessionsJson | undefined, stage: string): SessionTemperature | undefined {
  if (!sessions) return undefined;
  if (stage === 'load') return sessions.model;
  if (stage === 'attention' || stage === 'gradients') return sessions[stage];
  if (stage === 'perturbation') return sessions.perturbation;
  if (stage === 'value_zeroing') return sessions.valueZeroing;
  return undefined;
}
