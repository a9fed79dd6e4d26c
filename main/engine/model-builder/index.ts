// The model builder's public surface: decoder builders, the folder writer and tokenizers (the demo model is main/demo).
export type { BuiltModel, WeightSet } from './types';
export { buildLlamaModel, llamaWeights, llamaConfig, type LlamaSpec, type LlamaOptions } from './llama';
export { buildGpt2Model, gpt2Weights, gpt2Config, type Gpt2Spec, type Gpt2Options } from './gpt2';
export { writeModelFolder, float16Weights, externalizeWeights, generationConfigFor, type FolderExtras } from './folder';
export { llama2Tokenizer, gpt2Tokenizer, LLAMA2_CHAT_TEMPLATE, PLAIN_CHAT_TEMPLATE, type TokenizerFiles } from './tokenizers';
export { ensureFolder, COMPLETE_MARKER } from './atomic';
export { buildFusedLlamaModel, type FusedLlamaOptions } from './fused-llama';
export { quantize4Bit } from './quantize';
export { float16Model } from './float16';
export { buildSeq2SeqModel, type BuiltSeq2Seq } from './seq2seq-graph';
export { seq2seqConfig, seq2seqWeights, type Seq2SeqSpec, type Seq2SeqFamily } from './seq2seq-spec';
export { writeSeq2SeqFolder, type Seq2SeqFolderExtras } from './seq2seq-folder';
export { bartStyleTokenizer, marianStyleTokenizer, t5StyleTokenizer } from './seq2seq-tokenizers';
