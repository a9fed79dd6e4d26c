// Admission of an encoder-decoder run, as memory-check.ts admits decoder-only ones: after config and tokenizer are read
// and before a run row is written or any session loads, a source or decoder sequence over the model's positions and
// an estimated peak (shared/memory-estimate-seq2seq) over the budget are refused with one line (RunTooLargeError:
// CLI exit 2, API too_large).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExplainRequest } from '../../../shared/api';
import { DEFAULT_EXPLAIN_OPTIONS } from '../../../shared/explain-options';
import { formatBytes, type MemoryEstimate } from '../../../shared/memory-estimate';
import { estimateSeq2SeqPeakMemory, type Seq2SeqDimensions } from '../../../shared/memory-estimate-seq2seq';
import { defaultMemoryBudget, RunTooLargeError } from '../run-too-large';
import type { ReadSeq2Seq } from './folder';
import { renderSource } from './source';

/** Bytes per weight of each dtype (transformers.js names), as memory-check.ts counts them. */
const WEIGHT_BYTES: Record<string, number> = { fp32: 4, fp16: 2, q8: 1, int8: 1, uint8: 1, q4: 0.5, q4f16: 0.5, bnb4: 0.5 };
const FFN_NAMES = ['d_ff', 'encoder_ffn_dim', 'decoder_ffn_dim', 'intermediate_size'];

export interface Seq2SeqAdmission {
  estimate: MemoryEstimate;
  budgetBytes: number;
  /** The source the run will encode (rendered and tokenized, or --input-ids). */
  sourceIds: number[];
  /** The rendered source text; undefined for runs from --input-ids. */
  rendered?: string;
  /** The same estimate for the answer as it turned out. */
  estimateFor(answerLength: number): MemoryEstimate;
}

async function fileBytes(folder: string, file: string): Promise<number> {
  const size = async (path: string) => (await stat(path).catch(() => undefined))?.size ?? 0;
  // External data sits next to the graph as <file>_data (optimum) or <file>.data.
  return (await size(join(folder, file))) + (await size(join(folder, `${file}_data`))) + (await size(join(folder, `${file}.data`)));
}

/** The estimate's view of a read folder: config numbers and both files' sizes. */
export async function seq2seqDimensions(read: Pick<ReadSeq2Seq, 'path' | 'config' | 'variant' | 'dtype'>): Promise<Seq2SeqDimensions> {
  const { config } = read;
  const ffn = FFN_NAMES.map((name) => config.raw[name]).find((v): v is number => typeof v === 'number' && v > 0);
  return {
    encoderLayers: config.encoderLayers,
    decoderLayers: config.decoderLayers,
    encoderHeads: config.encoderHeads,
    decoderHeads: config.decoderHeads,
    dModel: config.dModel,
    intermediate: ffn ?? 4 * config.dModel,
    vocab: config.vocabSize,
    fileBytes: (await fileBytes(read.path, read.variant.encoderFile)) + (await fileBytes(read.path, read.variant.decoderFile)),
    weightBytes: WEIGHT_BYTES[read.dtype] ?? 4,
  };
}

/**
 * Checks one request against a read folder. Throws RunTooLargeError when the source or the decoder sequence exceeds
 * the model's positions or the estimated peak exceeds the budget.
 * Example: a 600-token source on a Marian folder with max_position_embeddings 512 →
 * `RunTooLargeError: the source is 600 tokens but the model's max_position_embeddings is 512: shorten the input`.
 */
export async function admitSeq2SeqRun(read: ReadSeq2Seq, request: ExplainRequest): Promise<Seq2SeqAdmission> {
  const { config, tokenizer } = read;
  const rendered = request.inputIds ? undefined : renderSource(config, request);
  const sourceIds = request.inputIds ?? (tokenizer.encode(rendered ?? '') as number[]);
  const supplied = request.answerIds ?? (request.answer !== undefined ? (tokenizer.encode(request.answer) as number[]) : undefined);
  const answerLength = supplied?.length ?? request.generation.maxNewTokens;
  const limit = config.maxPositions;
  if (limit !== undefined && sourceIds.length > limit) {
    throw new RunTooLargeError(`the source is ${sourceIds.length} tokens but the model's max_position_embeddings is ${limit}: shorten the input`, 'context');
  }
  if (limit !== undefined && 1 + answerLength > limit) {
    const answer = supplied ? `${answerLength} answer` : `up to ${answerLength} new`;
    throw new RunTooLargeError(
      `the decoder sequence is ${1 + answerLength} tokens (the start token + ${answer}) but the model's max_position_embeddings is ${limit}: ${supplied ? 'shorten the answer' : 'lower --max-new-tokens'}`,
      'context',
    );
  }
  const options = { ...DEFAULT_EXPLAIN_OPTIONS, ...request.options };
  const methods = options.keepRawGradient && !request.methods.includes('gradient') ? [...request.methods, 'gradient'] : request.methods;
  const dimensions = await seq2seqDimensions(read);
  const estimateFor = (answer: number) => estimateSeq2SeqPeakMemory(dimensions, { sourceLength: sourceIds.length, answerLength: answer, methods, target: options.target });
  const estimate = estimateFor(answerLength);
  const budgetBytes = request.memoryBudgetBytes ?? defaultMemoryBudget();
  if (estimate.peakBytes > budgetBytes) {
    const hints = estimate.stage === 'gradients' ? ['fewer methods', ...(options.target === 'sequence' ? [] : ['--target sequence (one row)']), 'a shorter answer'] : [];
    throw new RunTooLargeError(
      `the run needs about ${formatBytes(estimate.peakBytes)} (estimated peak, ${estimate.stage} stage, ${sourceIds.length} source + ${1 + answerLength} decoder tokens, ${methods.join(', ') || 'no methods'}) but the memory budget is ${formatBytes(budgetBytes)}: use ${[...hints, 'a shorter source', '--memory-budget SIZE if the machine has more to spare'].join(', ')}`,
      'memory',
    );
  }
  return { estimate, budgetBytes, sourceIds, rendered, estimateFor };
}
