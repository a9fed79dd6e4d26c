// config.json (+ generation_config.json) of an encoder-decoder model under one set of names. The families name
// the same numbers differently — BART/Marian/mBART/M2M100: encoder_layers, decoder_layers, encoder_attention_heads,
// d_model; T5: num_layers, num_decoder_layers (default num_layers), num_heads, d_model, d_kv — as transformers.js'
// getNormalizedConfig maps them. Generation ids follow transformers.js: the config first, generation_config.json over it.
import { ConfigError, tokenIds } from '../config';

export interface Seq2SeqConfig {
  modelType: string;
  architectures: string[];
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  encoderHeads: number;
  decoderHeads: number;
  /** Per-head width: `d_kv` where stated (T5; heads · d_kv may differ from d_model), else d_model / heads. */
  headDim: number;
  vocabSize: number;
  /** Learned / sinusoidal position table length; undefined for T5 (relative positions). */
  maxPositions?: number;
  /** The first decoder token (`decoder_start_token_id`, else `bos_token_id`). */
  decoderStartTokenId: number;
  padTokenId?: number;
  bosTokenId?: number;
  eosTokenIds: number[];
  /** Forced as the first generated token (ForcedBOSTokenLogitsProcessor). */
  forcedBosTokenId?: number;
  /** Forced as the last token when the length limit is reached (ForcedEOSTokenLogitsProcessor). */
  forcedEosTokenIds: number[];
  /** Text prefixes by task from `task_specific_params` (T5: "summarize: ", "translate English to German: "). */
  taskPrefixes: Record<string, string>;
  raw: Record<string, unknown>;
}

function numberAt(source: Record<string, unknown>, names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = source[name];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return undefined;
}

/**
 * Normalizes an encoder-decoder config.json, with generation_config.json's ids taking precedence.
 * Example: `normalizeSeq2SeqConfig({model_type: 't5', d_model: 32, d_kv: 12, num_heads: 4, num_layers: 2,
 * vocab_size: 100, decoder_start_token_id: 0, eos_token_id: 1})` → `{encoderLayers: 2, decoderLayers: 2, headDim: 12,
 * decoderStartTokenId: 0, eosTokenIds: [1], …}`. Throws ConfigError naming the missing field.
 */
export function normalizeSeq2SeqConfig(raw: Record<string, unknown>, generation: Record<string, unknown> = {}): Seq2SeqConfig {
  const require = (names: readonly string[], what: string): number => {
    const value = numberAt(raw, names);
    if (value === undefined) throw new ConfigError(`config.json has no ${what} (looked for ${names.join(', ')})`, names[0]);
    return value;
  };
  const dModel = require(['d_model', 'hidden_size'], 'model width');
  const encoderLayers = require(['encoder_layers', 'num_layers', 'num_hidden_layers'], 'encoder layer count');
  const decoderLayers = numberAt(raw, ['decoder_layers', 'num_decoder_layers']) ?? encoderLayers;
  const encoderHeads = require(['encoder_attention_heads', 'num_heads', 'num_attention_heads'], 'attention head count');
  const decoderHeads = numberAt(raw, ['decoder_attention_heads', 'num_heads', 'num_attention_heads']) ?? encoderHeads;
  const vocabSize = require(['vocab_size'], 'vocabulary size');
  const headDim = numberAt(raw, ['d_kv', 'head_dim']) ?? dModel / decoderHeads;
  const pick = (name: string): unknown => (generation[name] !== undefined ? generation[name] : raw[name]);
  const bosTokenId = tokenIds(pick('bos_token_id'))[0];
  const decoderStartTokenId = tokenIds(pick('decoder_start_token_id'))[0] ?? bosTokenId;
  if (decoderStartTokenId === undefined) {
    throw new ConfigError('config.json has no decoder_start_token_id (nor bos_token_id): add the id the decoder starts from', 'decoder_start_token_id');
  }
  const taskPrefixes: Record<string, string> = {};
  const tasks = raw.task_specific_params;
  if (tasks && typeof tasks === 'object') {
    for (const [task, params] of Object.entries(tasks as Record<string, unknown>)) {
      const prefix = (params as Record<string, unknown> | null)?.prefix;
      if (typeof prefix === 'string') taskPrefixes[task] = prefix;
    }
  }
  return {
    modelType: typeof raw.model_type === 'string' ? raw.model_type : '',
    architectures: Array.isArray(raw.architectures) ? raw.architectures.filter((a): a is string => typeof a === 'string') : [],
    dModel,
    encoderLayers,
    decoderLayers,
    encoderHeads,
    decoderHeads,
    headDim,
    vocabSize,
    maxPositions: numberAt(raw, ['max_position_embeddings']),
    decoderStartTokenId,
    padTokenId: tokenIds(pick('pad_token_id'))[0],
    bosTokenId,
    eosTokenIds: [...new Set([...tokenIds(raw.eos_token_id), ...tokenIds(generation.eos_token_id)])],
    forcedBosTokenId: tokenIds(pick('forced_bos_token_id'))[0],
    forcedEosTokenIds: tokenIds(pick('forced_eos_token_id')),
    taskPrefixes,
    raw,
  };
}
