// config.json normalization across model families. The samples are trimmed copies of published config.json
// files (field names checked against each family's configuration class / hub configs).
import { describe, expect, it } from 'vitest';
import { ConfigError, modelKind, normalizeConfig } from '../../../main/engine/config';

interface Expected {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  hiddenSize: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number | undefined;
  eosTokenIds: number[];
}

const FAMILIES: { name: string; raw: Record<string, unknown>; expected: Expected }[] = [
  {
    name: 'llama (GQA)',
    raw: { model_type: 'llama', architectures: ['LlamaForCausalLM'], num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, hidden_size: 2048, vocab_size: 32000, max_position_embeddings: 2048, bos_token_id: 1, eos_token_id: 2, rope_theta: 10000 },
    expected: { numLayers: 22, numHeads: 32, numKvHeads: 4, hiddenSize: 2048, headDim: 64, vocabSize: 32000, maxPositions: 2048, eosTokenIds: [2] },
  },
  {
    name: 'llama 3 (eos list)',
    raw: { model_type: 'llama', num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, hidden_size: 2048, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] },
    expected: { numLayers: 16, numHeads: 32, numKvHeads: 8, hiddenSize: 2048, headDim: 64, vocabSize: 128256, maxPositions: 131072, eosTokenIds: [128001, 128008, 128009] },
  },
  {
    name: 'mistral',
    raw: { model_type: 'mistral', num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 32768, eos_token_id: 2 },
    expected: { numLayers: 32, numHeads: 32, numKvHeads: 8, hiddenSize: 4096, headDim: 128, vocabSize: 32000, maxPositions: 32768, eosTokenIds: [2] },
  },
  {
    name: 'qwen2',
    raw: { model_type: 'qwen2', num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, hidden_size: 896, vocab_size: 151936, max_position_embeddings: 32768, eos_token_id: 151643 },
    expected: { numLayers: 24, numHeads: 14, numKvHeads: 2, hiddenSize: 896, headDim: 64, vocabSize: 151936, maxPositions: 32768, eosTokenIds: [151643] },
  },
  {
    name: 'qwen3 (head_dim differs from hidden/heads)',
    raw: { model_type: 'qwen3', num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, hidden_size: 1024, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960, eos_token_id: 151645 },
    expected: { numLayers: 28, numHeads: 16, numKvHeads: 8, hiddenSize: 1024, headDim: 128, vocabSize: 151936, maxPositions: 40960, eosTokenIds: [151645] },
  },
  {
    name: 'gemma (head_dim 256, hidden/heads would be 192)',
    raw: { model_type: 'gemma', num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 16, hidden_size: 3072, head_dim: 256, vocab_size: 256000, max_position_embeddings: 8192, eos_token_id: 1, bos_token_id: 2, pad_token_id: 0 },
    expected: { numLayers: 28, numHeads: 16, numKvHeads: 16, hiddenSize: 3072, headDim: 256, vocabSize: 256000, maxPositions: 8192, eosTokenIds: [1] },
  },
  {
    name: 'phi3',
    raw: { model_type: 'phi3', num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, hidden_size: 3072, vocab_size: 32064, max_position_embeddings: 4096, eos_token_id: 32000 },
    expected: { numLayers: 32, numHeads: 32, numKvHeads: 32, hiddenSize: 3072, headDim: 96, vocabSize: 32064, maxPositions: 4096, eosTokenIds: [32000] },
  },
  {
    name: 'gpt2 (n_layer, n_head, n_embd, n_positions)',
    raw: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_layer: 12, n_head: 12, n_embd: 768, n_positions: 1024, n_ctx: 1024, vocab_size: 50257, bos_token_id: 50256, eos_token_id: 50256 },
    expected: { numLayers: 12, numHeads: 12, numKvHeads: 12, hiddenSize: 768, headDim: 64, vocabSize: 50257, maxPositions: 1024, eosTokenIds: [50256] },
  },
  {
    name: 'gpt_neox (pythia)',
    raw: { model_type: 'gpt_neox', architectures: ['GPTNeoXForCausalLM'], num_hidden_layers: 6, num_attention_heads: 8, hidden_size: 512, vocab_size: 50304, max_position_embeddings: 2048, rotary_emb_base: 10000, rotary_pct: 0.25, eos_token_id: 0, bos_token_id: 0 },
    expected: { numLayers: 6, numHeads: 8, numKvHeads: 8, hiddenSize: 512, headDim: 64, vocabSize: 50304, maxPositions: 2048, eosTokenIds: [0] },
  },
  {
    name: 'gptj',
    raw: { model_type: 'gptj', n_layer: 28, n_head: 16, n_embd: 4096, n_positions: 2048, rotary_dim: 64, vocab_size: 50400, eos_token_id: 50256 },
    expected: { numLayers: 28, numHeads: 16, numKvHeads: 16, hiddenSize: 4096, headDim: 256, vocabSize: 50400, maxPositions: 2048, eosTokenIds: [50256] },
  },
  {
    name: 'falcon 7b (multi-query)',
    raw: { model_type: 'falcon', num_hidden_layers: 32, num_attention_heads: 71, hidden_size: 4544, multi_query: true, new_decoder_architecture: false, vocab_size: 65024, eos_token_id: 11 },
    expected: { numLayers: 32, numHeads: 71, numKvHeads: 1, hiddenSize: 4544, headDim: 64, vocabSize: 65024, maxPositions: undefined, eosTokenIds: [11] },
  },
  {
    name: 'falcon 40b (new decoder architecture)',
    raw: { model_type: 'falcon', num_hidden_layers: 60, num_attention_heads: 128, num_kv_heads: 8, hidden_size: 8192, new_decoder_architecture: true, vocab_size: 65024, eos_token_id: 11 },
    expected: { numLayers: 60, numHeads: 128, numKvHeads: 8, hiddenSize: 8192, headDim: 64, vocabSize: 65024, maxPositions: undefined, eosTokenIds: [11] },
  },
  {
    name: 'falcon (RefinedWeb names n_layer, n_head, n_head_kv)',
    raw: { model_type: 'falcon', n_layer: 60, n_head: 128, n_head_kv: 8, hidden_size: 8192, new_decoder_architecture: true, vocab_size: 65024, eos_token_id: 11 },
    expected: { numLayers: 60, numHeads: 128, numKvHeads: 8, hiddenSize: 8192, headDim: 64, vocabSize: 65024, maxPositions: undefined, eosTokenIds: [11] },
  },
  {
    name: 'bloom (ALiBi: no position limit)',
    raw: { model_type: 'bloom', architectures: ['BloomForCausalLM'], n_layer: 24, n_head: 16, hidden_size: 1536, vocab_size: 250880, bos_token_id: 1, eos_token_id: 2, pad_token_id: 3 },
    expected: { numLayers: 24, numHeads: 16, numKvHeads: 16, hiddenSize: 1536, headDim: 96, vocabSize: 250880, maxPositions: undefined, eosTokenIds: [2] },
  },
  {
    name: 'opt',
    raw: { model_type: 'opt', architectures: ['OPTForCausalLM'], num_hidden_layers: 12, num_attention_heads: 12, hidden_size: 768, ffn_dim: 3072, word_embed_proj_dim: 768, vocab_size: 50272, max_position_embeddings: 2048, eos_token_id: 2, pad_token_id: 1 },
    expected: { numLayers: 12, numHeads: 12, numKvHeads: 12, hiddenSize: 768, headDim: 64, vocabSize: 50272, maxPositions: 2048, eosTokenIds: [2] },
  },
  {
    name: 'mpt (n_layers, n_heads, d_model, max_seq_len)',
    raw: { model_type: 'mpt', n_layers: 32, n_heads: 32, d_model: 4096, max_seq_len: 2048, vocab_size: 50432, eos_token_id: 0 },
    expected: { numLayers: 32, numHeads: 32, numKvHeads: 32, hiddenSize: 4096, headDim: 128, vocabSize: 50432, maxPositions: 2048, eosTokenIds: [0] },
  },
  {
    name: 'gpt_bigcode (multi_query)',
    raw: { model_type: 'gpt_bigcode', n_layer: 24, n_head: 16, n_embd: 2048, n_positions: 2048, multi_query: true, vocab_size: 49280, eos_token_id: 49152 },
    expected: { numLayers: 24, numHeads: 16, numKvHeads: 1, hiddenSize: 2048, headDim: 128, vocabSize: 49280, maxPositions: 2048, eosTokenIds: [49152] },
  },
  {
    name: 'gemma3 (numbers nested in text_config)',
    raw: {
      model_type: 'gemma3',
      architectures: ['Gemma3ForConditionalGeneration'],
      eos_token_id: [1, 106],
      text_config: { model_type: 'gemma3_text', num_hidden_layers: 34, num_attention_heads: 8, num_key_value_heads: 4, hidden_size: 2560, head_dim: 256, vocab_size: 262208, max_position_embeddings: 131072, rope_theta: 1000000 },
      vision_config: { model_type: 'siglip_vision_model', num_hidden_layers: 27, hidden_size: 1152 },
    },
    expected: { numLayers: 34, numHeads: 8, numKvHeads: 4, hiddenSize: 2560, headDim: 256, vocabSize: 262208, maxPositions: 131072, eosTokenIds: [1, 106] },
  },
];

describe('normalizeConfig', () => {
  it.each(FAMILIES)('$name', ({ raw, expected }) => {
    const config = normalizeConfig(raw);
    expect({
      numLayers: config.numLayers,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      hiddenSize: config.hiddenSize,
      headDim: config.headDim,
      vocabSize: config.vocabSize,
      maxPositions: config.maxPositions,
      eosTokenIds: config.eosTokenIds,
    }).toEqual(expected);
    expect(config.modelType).toBe(raw.model_type);
    expect(config.isEncoderDecoder).toBe(false);
    expect(config.isEncoderOnly).toBe(false);
    expect(config.raw).toBe(raw);
  });

  it('reads bos/pad ids and rope theta from each family\'s field', () => {
    const gemma = normalizeConfig(FAMILIES.find((family) => family.name.startsWith('gemma ('))!.raw);
    expect([gemma.bosTokenId, gemma.padTokenId]).toEqual([2, 0]);
    expect(normalizeConfig(FAMILIES.find((family) => family.name === 'gpt_neox (pythia)')!.raw).ropeTheta).toBe(10000);
    expect(normalizeConfig(FAMILIES.find((family) => family.name.startsWith('gemma3'))!.raw).ropeTheta).toBe(1000000);
    const grouped = normalizeConfig({ ...FAMILIES[0].raw, rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 500000 } });
    expect(grouped.ropeTheta).toBe(500000);
    expect(normalizeConfig(FAMILIES.find((family) => family.name.startsWith('gpt2'))!.raw).padTokenId).toBeUndefined();
  });

  it('treats a null eos_token_id as no EOS ids', () => {
    expect(normalizeConfig({ ...FAMILIES[0].raw, eos_token_id: null }).eosTokenIds).toEqual([]);
  });

  it('names the missing field when a required number is absent', () => {
    const { n_head: _dropped, ...withoutHeads } = FAMILIES.find((family) => family.name.startsWith('gpt2'))!.raw;
    expect(() => normalizeConfig(withoutHeads)).toThrow(ConfigError);
    expect(() => normalizeConfig(withoutHeads)).toThrow(/attention head count \(looked for num_attention_heads, n_head/);
    expect(() => normalizeConfig([1, 2])).toThrow(/JSON object/);
  });
});

describe('modelKind', () => {
  it.each([
    [{ model_type: 'bert', architectures: ['BertForMaskedLM'] }, 'encoder'],
    [{ model_type: 'roberta', architectures: ['RobertaForSequenceClassification'] }, 'encoder'],
    [{ model_type: 'my-encoder', architectures: ['MyEncoderForTokenClassification'] }, 'encoder'],
    [{ model_type: 't5', architectures: ['T5ForConditionalGeneration'] }, 'encoder-decoder'],
    [{ model_type: 'bart', is_encoder_decoder: true }, 'encoder-decoder'],
    [{ model_type: 'llama', architectures: ['LlamaForCausalLM'] }, 'decoder'],
    [{ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }, 'decoder'],
  ] as const)('%o is %s', (raw, kind) => {
    expect(modelKind({ ...raw, architectures: 'architectures' in raw ? [...raw.architectures] : undefined }).kind).toBe(kind);
  });

  it('marks encoder-only and encoder-decoder configs in normalizeConfig too', () => {
    const bert = normalizeConfig({ model_type: 'bert', num_hidden_layers: 12, num_attention_heads: 12, hidden_size: 768, vocab_size: 30522, max_position_embeddings: 512 });
    expect([bert.isEncoderOnly, bert.isEncoderDecoder]).toEqual([true, false]);
    const t5 = normalizeConfig({ model_type: 't5', num_layers: 6, num_heads: 8, d_model: 512, vocab_size: 32128, is_encoder_decoder: true, eos_token_id: 1 });
    expect([t5.isEncoderOnly, t5.isEncoderDecoder]).toEqual([false, true]);
  });
});
