// Encoder-decoder config.json under each family's names, generation ids as transformers.js reads them, and the
// source rendering with T5 task prefixes.
import { describe, expect, it } from 'vitest';
import { normalizeConfig } from '../../../main/engine/config';
import { normalizeSeq2SeqConfig } from '../../../main/engine/seq2seq/config';
import { renderSource, taskPrefix } from '../../../main/engine/seq2seq/source';

// Field sets as published in t5-small, facebook/bart-large-cnn and Helsinki-NLP/opus-mt-en-de config.json (numbers trimmed).
const T5 = {
  model_type: 't5', architectures: ['T5ForConditionalGeneration'], d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_heads: 8,
  vocab_size: 32128, decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0, is_encoder_decoder: true,
  task_specific_params: { summarization: { prefix: 'summarize: ' }, translation_en_to_de: { prefix: 'translate English to German: ' }, translation_en_to_fr: { prefix: 'translate English to French: ' } },
};
const BART = {
  model_type: 'bart', d_model: 1024, encoder_layers: 12, decoder_layers: 12, encoder_attention_heads: 16, decoder_attention_heads: 16,
  vocab_size: 50264, max_position_embeddings: 1024, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1, decoder_start_token_id: 2,
  forced_bos_token_id: 0, forced_eos_token_id: 2,
};
const MARIAN = {
  model_type: 'marian', d_model: 512, encoder_layers: 6, decoder_layers: 6, encoder_attention_heads: 8, decoder_attention_heads: 8,
  vocab_size: 58101, max_position_embeddings: 512, eos_token_id: 0, pad_token_id: 58100, decoder_start_token_id: 58100,
};

describe('seq2seq config', () => {
  it('reads T5 names: num_layers for both stacks unless num_decoder_layers, d_kv as the head width, task prefixes', () => {
    const config = normalizeSeq2SeqConfig(T5);
    expect(config).toMatchObject({ dModel: 512, encoderLayers: 6, decoderLayers: 6, encoderHeads: 8, headDim: 64, decoderStartTokenId: 0, eosTokenIds: [1], forcedEosTokenIds: [] });
    expect(config.maxPositions).toBeUndefined();
    expect(normalizeSeq2SeqConfig({ ...T5, num_decoder_layers: 2, d_kv: 12 })).toMatchObject({ decoderLayers: 2, headDim: 12 });
    expect(config.taskPrefixes.summarization).toBe('summarize: ');
  });

  it('reads BART names and lets generation_config.json override the generation ids', () => {
    expect(normalizeSeq2SeqConfig(BART)).toMatchObject({ encoderLayers: 12, decoderLayers: 12, decoderHeads: 16, headDim: 64, maxPositions: 1024, forcedBosTokenId: 0, forcedEosTokenIds: [2], decoderStartTokenId: 2 });
    const overridden = normalizeSeq2SeqConfig(BART, { forced_bos_token_id: 5, decoder_start_token_id: 7, eos_token_id: [2, 9] });
    expect(overridden).toMatchObject({ forcedBosTokenId: 5, decoderStartTokenId: 7, eosTokenIds: [2, 9] });
    expect(normalizeSeq2SeqConfig(MARIAN)).toMatchObject({ decoderStartTokenId: 58100, padTokenId: 58100, eosTokenIds: [0] });
  });

  it('refuses a config without a decoder start id (nor bos) in one line naming the field', () => {
    const { decoder_start_token_id: _, ...noStart } = MARIAN;
    expect(() => normalizeSeq2SeqConfig(noStart)).toThrow(/no decoder_start_token_id \(nor bos_token_id\)/);
    expect(normalizeSeq2SeqConfig({ ...noStart, bos_token_id: 3 }).decoderStartTokenId).toBe(3);
  });

  it('folder summaries read BART-family configs (encoder_layers, encoder_attention_heads)', () => {
    expect(normalizeConfig(BART)).toMatchObject({ numLayers: 12, numHeads: 16, hiddenSize: 1024, isEncoderDecoder: true });
  });

  it('renders the source: the task prefix when the config names one, once', () => {
    const config = normalizeSeq2SeqConfig(T5);
    expect(taskPrefix(config, 'translation')).toBe('translate English to German: ');
    expect(renderSource(config, { task: 'summarization', prompt: 'The cat sat.' })).toBe('summarize: The cat sat.');
    expect(renderSource(config, { task: 'summarization', prompt: 'summarize: The cat sat.' })).toBe('summarize: The cat sat.');
    expect(renderSource(config, { task: 'chat', system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Bye' }] })).toBe('Be brief.\nBye');
    expect(renderSource(normalizeSeq2SeqConfig(BART), { task: 'summarization', prompt: 'Text.' })).toBe('Text.');
  });
});
