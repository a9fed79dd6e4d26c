// Reads config.json the way each model family writes it. Hugging Face configs name the same quantity
// differently per family (GPT-2: n_layer/n_head/n_embd/n_positions; llama: num_hidden_layers/...; MPT:
// n_layers/n_heads/d_model/max_seq_len), so the engine works only with the normalized `ModelConfig`.
// Field names were checked against the families' configuration classes and published config.json files
// (and transformers.js `getNormalizedConfig`).

/** The parts of config.json the engine needs, under one set of names. */
export interface ModelConfig {
  /** `model_type`, e.g. "llama", "gpt2" (the outer type for multimodal configs, e.g. "gemma3"). */
  modelType: string;
  /** `architectures`, e.g. ["LlamaForCausalLM"]. */
  architectures: string[];
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (grouped-query attention: fewer than numHeads; multi-query: 1). */
  numKvHeads: number;
  hiddenSize: number;
  /** Per-head width of keys and values: `head_dim` when stated, else hiddenSize / numHeads. */
  headDim: number;
  vocabSize: number;
  /** Longest sequence the position scheme covers; undefined when the config states none (ALiBi models). */
  maxPositions?: number;
  /** The config.json field `maxPositions` came from, e.g. "max_position_embeddings" (named in refusals). */
  maxPositionsField?: string;
  /** End-of-sequence ids (config lists them as a number or a list). */
  eosTokenIds: number[];
  bosTokenId?: number;
  padTokenId?: number;
  ropeTheta?: number;
  isEncoderDecoder: boolean;
  /** An encoder-only family (BERT-like): cannot generate. */
  isEncoderOnly: boolean;
  /** The config.json object as read. */
  raw: Record<string, unknown>;
}

/** Thrown when config.json lacks a number the engine needs; `field` names what was looked for. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Families whose models are encoders only (masked-LM, classifiers): they have no causal LM head. */
export const ENCODER_ONLY_TYPES: ReadonlySet<string> = new Set([
  'bert', 'roberta', 'xlm-roberta', 'xlm-roberta-xl', 'distilbert', 'albert', 'electra', 'deberta', 'deberta-v2',
  'camembert', 'flaubert', 'mpnet', 'modernbert', 'nomic_bert', 'jina_bert', 'esm', 'convbert', 'squeezebert',
  'mobilebert', 'funnel', 'longformer', 'roformer', 'xlm', 'ernie', 'nezha', 'big_bird', 'canine', 'layoutlm',
  'eurobert', 'neobert',
]);

/** Families that are encoder-decoder (seq2seq) models. */
export const ENCODER_DECODER_TYPES: ReadonlySet<string> = new Set([
  't5', 'mt5', 'umt5', 'longt5', 'bart', 'mbart', 'marian', 'pegasus', 'pegasus_x', 'm2m_100', 'nllb-moe', 'blenderbot',
  'blenderbot-small', 'prophetnet', 'led', 'fsmt', 'whisper', 'encoder-decoder', 'vision-encoder-decoder',
  'speech-encoder-decoder', 'florence2', 'trocr', 'moonshine', 'switch_transformers',
]);

/** Architecture suffixes that mark an encoder-only head. */
const ENCODER_ONLY_HEADS = /(ForMaskedLM|ForSequenceClassification|ForTokenClassification|ForQuestionAnswering|ForMultipleChoice|ForNextSentencePrediction|ForPreTraining)$/;
/** Architecture suffixes that can generate. */
const CAUSAL_HEADS = /(ForCausalLM|LMHeadModel|ForConditionalGeneration)$/;

// Aliases tried in order; the first number found wins.
// encoder_layers / encoder_attention_heads: BART-family seq2seq configs state only those (folder summaries read them).
const LAYER_NAMES = ['num_hidden_layers', 'n_layer', 'n_layers', 'num_layers', 'encoder_layers'];
const HEAD_NAMES = ['num_attention_heads', 'n_head', 'n_heads', 'num_heads', 'encoder_attention_heads'];
const HIDDEN_NAMES = ['hidden_size', 'n_embd', 'n_embed', 'd_model'];
const POSITION_NAMES = ['max_position_embeddings', 'n_positions', 'max_seq_len', 'n_ctx', 'seq_length', 'max_sequence_length'];
const VOCAB_NAMES = ['vocab_size', 'padded_vocab_size'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberAt(source: Record<string, unknown>, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = source[name];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return undefined;
}

/** A token id field that may be a number, a list of numbers, or null. */
export function tokenIds(value: unknown): number[] {
  if (typeof value === 'number' && Number.isInteger(value)) return [value];
  if (Array.isArray(value)) return value.filter((id): id is number => typeof id === 'number' && Number.isInteger(id));
  return [];
}

function firstId(value: unknown): number | undefined {
  return tokenIds(value)[0];
}

/** Multimodal configs keep the language model's numbers in a nested config. */
function textSection(raw: Record<string, unknown>): Record<string, unknown> {
  for (const key of ['text_config', 'language_config', 'llm_config', 'phi_config']) {
    const nested = raw[key];
    if (isRecord(nested) && numberAt(nested, LAYER_NAMES) !== undefined) return nested;
  }
  return raw;
}

/** Key/value heads per family: GQA fields first, then the multi-query flags of Falcon and GPT-BigCode. */
function kvHeads(modelType: string, source: Record<string, unknown>, numHeads: number): number {
  const explicit = numberAt(source, ['num_key_value_heads', 'num_kv_heads', 'n_head_kv', 'multi_query_group_num']);
  if (modelType === 'falcon') {
    // Falcon: the new decoder architecture (40B/180B) states num_kv_heads; otherwise multi_query (default true)
    // means one shared key/value head.
    if (source.new_decoder_architecture === true) return explicit ?? numHeads;
    return source.multi_query === false ? numHeads : 1;
  }
  if (modelType === 'gpt_bigcode') return source.multi_query === false ? numHeads : 1;
  return explicit ?? numHeads;
}

function ropeTheta(source: Record<string, unknown>): number | undefined {
  const direct = numberAt(source, ['rope_theta', 'rotary_emb_base', 'rotary_base']);
  if (direct !== undefined) return direct;
  // Newer configs group rotary settings: {"rope_parameters": {"rope_theta": 10000, "rope_type": "default"}}.
  const grouped = source.rope_parameters;
  return isRecord(grouped) ? numberAt(grouped, ['rope_theta']) : undefined;
}

/** What a config describes, read before any numbers so unsupported kinds get their own message. */
export interface ModelKind {
  modelType: string;
  architectures: string[];
  kind: 'decoder' | 'encoder' | 'encoder-decoder';
}

/** Classifies a parsed config.json as decoder-only, encoder-only or encoder-decoder. */
export function modelKind(raw: Record<string, unknown>): ModelKind {
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : '';
  const architectures = Array.isArray(raw.architectures)
    ? raw.architectures.filter((name): name is string => typeof name === 'string')
    : [];
  if (raw.is_encoder_decoder === true || ENCODER_DECODER_TYPES.has(modelType)) {
    return { modelType, architectures, kind: 'encoder-decoder' };
  }
  const encoderHeadsOnly =
    architectures.length > 0 &&
    architectures.every((name) => ENCODER_ONLY_HEADS.test(name)) &&
    !architectures.some((name) => CAUSAL_HEADS.test(name));
  if (ENCODER_ONLY_TYPES.has(modelType) || encoderHeadsOnly) return { modelType, architectures, kind: 'encoder' };
  return { modelType, architectures, kind: 'decoder' };
}

/**
 * Normalizes a parsed config.json.
 *
 * Example: `normalizeConfig({model_type:'gpt2', n_layer:2, n_head:4, n_embd:64, n_positions:128, vocab_size:300,
 * eos_token_id:0})` → `{modelType:'gpt2', numLayers:2, numHeads:4, numKvHeads:4, hiddenSize:64, headDim:16,
 * vocabSize:300, maxPositions:128, eosTokenIds:[0], …}`.
 * Throws ConfigError when a required number is missing.
 */
export function normalizeConfig(raw: unknown): ModelConfig {
  if (!isRecord(raw)) throw new ConfigError('config.json does not hold a JSON object', 'config');
  const { modelType, architectures, kind } = modelKind(raw);
  const isEncoderDecoder = kind === 'encoder-decoder';
  const isEncoderOnly = kind === 'encoder';

  const source = textSection(raw);
  const sourceType = typeof source.model_type === 'string' ? source.model_type : modelType;
  const require = (names: readonly string[], what: string): number => {
    const value = numberAt(source, names);
    if (value === undefined) {
      throw new ConfigError(`config.json has no ${what} (looked for ${names.join(', ')})`, names[0]);
    }
    return value;
  };

  const numLayers = require(LAYER_NAMES, 'layer count');
  const numHeads = require(HEAD_NAMES, 'attention head count');
  const hiddenSize = require(HIDDEN_NAMES, 'hidden size');
  const vocabSize = numberAt(source, VOCAB_NAMES) ?? require(VOCAB_NAMES, 'vocabulary size');
  const stated = source.head_dim;
  const headDim = typeof stated === 'number' && stated > 0 ? stated : hiddenSize / numHeads;

  // Token ids live at the top level in most multimodal configs, in the text section in some: take either.
  const pick = (name: string): unknown => raw[name] ?? source[name];
  return {
    modelType,
    architectures,
    numLayers,
    numHeads,
    numKvHeads: kvHeads(sourceType, source, numHeads),
    hiddenSize,
    headDim,
    vocabSize,
    maxPositions: numberAt(source, POSITION_NAMES),
    maxPositionsField: POSITION_NAMES.find((name) => numberAt(source, [name]) !== undefined),
    eosTokenIds: tokenIds(pick('eos_token_id')),
    bosTokenId: firstId(pick('bos_token_id')),
    padTokenId: firstId(pick('pad_token_id')),
    ropeTheta: ropeTheta(source),
    isEncoderDecoder,
    isEncoderOnly,
    raw,
  };
}
