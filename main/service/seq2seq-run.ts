// One encoder-decoder run, end to end: admit it and take the folder's sessions from the warm pool, render and tokenize
// the source, generate the answer (or take the supplied one), explain it with attention and the gradient family
// (seq2seq-gradients.ts), and store everything in one write. The pipeline hands seq2seq
// folders here (main/service/pipeline.ts); the run JSON keeps every decoder-only field and adds `source`,
// `attention.encoder` and `attention.cross`. `tokens` are the decoder's ids: the start token (role "prompt",
// promptLength 1) and the answer after it.
import type { ExplainRequest, ProgressStage } from '../../shared/api';
import { RUN_SCHEMA, type AttentionJson, type GenerationParams, type HeadStatsJson, type RunInput, type RunJson, type RunMemoryJson, type TokenRole } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import { tokenIdProblem } from '../../shared/token-ids';
import { validateMethods } from '../engine/explainers/registry';
import { tokenTexts, tokenWordStarts } from '../engine/prompt';
import { createHash } from 'node:crypto';
import { stageTimer } from './stage-timer';
import { requestRunFields } from './request-run-fields';
import type { PipelineContext, PipelineResult } from './pipeline-types';
import { meanOverLayersAndHeads, seq2seqAttention, type Seq2SeqAttention } from '../engine/seq2seq/attention';
import { headStatistics } from '../../shared/attention-math';
import { SEQ2SEQ_ATTENTION_TENSORS } from '../../shared/tensor-names';
import { headStatsJson } from '../engine/explainers/attention-family';
import type { LoadedSeq2Seq } from '../engine/seq2seq/folder';
import { warmSeq2Seq } from '../engine/seq2seq/warm';
import type { Seq2SeqAdmission } from '../engine/seq2seq/admission';
import { processSessionPool } from '../engine/warm-sessions';
import { MEMORY_RULE_VERSION } from '../../shared/memory-estimate';
import { generateSeq2Seq } from '../engine/seq2seq/generate';
import { seq2seqGradients } from './seq2seq-gradients';
import { Seq2SeqRequestError } from './seq2seq-errors';
import { DEFAULT_EXPLAIN_OPTIONS } from '../../shared/explain-options';

/** Methods that run on encoder-decoder models today. */
export const SEQ2SEQ_METHODS: ReadonlySet<string> = new Set(['attention', 'saliency', 'grad_x_input', 'gradient', 'integrated_gradients']);

export { Seq2SeqRequestError };

/** Tensor names of the seq2seq attention in the store (float16 like attention.data; shared/tensor-names). */
export const SEQ2SEQ_TENSORS = SEQ2SEQ_ATTENTION_TENSORS;

function flat4(data: number[][][][]): Float32Array {
  return Float32Array.from(data.flat(3));
}

/**
 * Head statistics of one attention kind (shared/attention-math, as decoder-only runs store them), each row's
 * query position given: decoder rows t, encoder rows s, and 0 for cross rows (no "previous" source token of a
 * decoder row, so their previous-token share is NaN → null).
 */
export function seq2seqHeadStats(data: number[][][][], rowPositions: readonly number[]): HeadStatsJson {
  const shape = { layers: data.length, heads: data[0].length, rows: data[0][0].length, cols: data[0][0][0]?.length ?? 0 };
  return headStatsJson({ layers: shape.layers, heads: shape.heads, headStats: headStatistics({ shape, data: flat4(data), rowPositions }) });
}

/**
 * The run JSON's attention for `answerCount` answer tokens: decoder rows 0 … answerCount − 1 (row t = decoder
 * position t, which predicts answer token t) over all decoder positions, cross rows over the source.
 */
export function seq2seqAttentionJson(attention: Seq2SeqAttention, answerCount: number): AttentionJson {
  const rows = <T>(matrix: T[]) => matrix.slice(0, answerCount);
  const data = attention.decoder.data.map((layer) => layer.map(rows));
  const crossData = attention.cross.data.map((layer) => layer.map(rows));
  const heads = data[0].length;
  const count = data.length * heads;
  const mean = data[0][0].map((row, r) => row.map((_, c) => data.reduce((sum, layer) => sum + layer.reduce((s, head) => s + head[r][c], 0), 0) / count));
  const crossMean = rows(attention.cross.mean);
  // How much the answer rows attend to each source token: the column means of the cross mean.
  const input = crossMean[0].map((_, s) => crossMean.reduce((sum, row) => sum + row[s], 0) / crossMean.length);
  return {
    layers: data.length,
    heads,
    rows: 'answer',
    rowPositions: Array.from({ length: answerCount }, (_, t) => t),
    data,
    mean,
    rollout: [],
    input,
    source: 'graph',
    headStats: seq2seqHeadStats(data, Array.from({ length: answerCount }, (_, t) => t)),
    encoder: {
      ...attention.encoder,
      mean: meanOverLayersAndHeads(attention.encoder.data),
      headStats: seq2seqHeadStats(attention.encoder.data, attention.encoder.data[0][0].map((_, s) => s)),
    },
    cross: { data: crossData, mean: crossMean, headStats: seq2seqHeadStats(crossData, crossData[0][0].map(() => 0)) },
  };
}

function seq2seqTensors(json: AttentionJson): NamedTensor[] {
  const shape = (data: number[][][][]) => [data.length, data[0].length, data[0][0].length, data[0][0][0].length];
  const tensors: NamedTensor[] = [
    { name: 'attention.data', axes: ['layer', 'head', 'row', 'col'], shape: shape(json.data), data: flat4(json.data), encoding: 'float16' },
    { name: 'attention.mean', axes: ['row', 'col'], shape: [json.mean.length, json.mean[0].length], data: Float32Array.from(json.mean.flat()), encoding: 'float32' },
  ];
  if (json.encoder) tensors.push({ name: SEQ2SEQ_TENSORS.encoder, axes: ['layer', 'head', 'row', 'col'], shape: shape(json.encoder.data), data: flat4(json.encoder.data), encoding: 'float16' });
  if (json.cross) tensors.push({ name: SEQ2SEQ_TENSORS.cross, axes: ['layer', 'head', 'row', 'col'], shape: shape(json.cross.data), data: flat4(json.cross.data), encoding: 'float16' });
  return tensors;
}

const GRADIENT_METHODS: ReadonlySet<string> = new Set(['saliency', 'grad_x_input', 'gradient', 'integrated_gradients']);

/** What the run was admitted with, for the answer it got, next to its process's peak (as decoder-only runs record). */
function seq2seqMemory(admission: Seq2SeqAdmission, answerLength: number): RunMemoryJson {
  const estimate = admission.estimateFor(answerLength);
  return { rule: MEMORY_RULE_VERSION, estimateBytes: estimate.peakBytes, estimateStage: estimate.stage, budgetBytes: admission.budgetBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** One hash for the pair of graphs a run used (the encoder's sha256 and the decoder's, hashed together). */
export function pairSha256(model: Pick<LoadedSeq2Seq, 'sha256'>): string {
  return createHash('sha256').update(`${model.sha256.encoder}\n${model.sha256.decoder}`).digest('hex');
}

export async function runSeq2SeqExplanation(request: ExplainRequest, context: PipelineContext, modelPath: string): Promise<PipelineResult> {
  const progress = context.onProgress ?? (() => {});
  const options = { ...DEFAULT_EXPLAIN_OPTIONS, ...request.options };
  const methods = validateMethods(request.methods, options);
  const unsupported = methods.filter((id) => !SEQ2SEQ_METHODS.has(id));
  if (unsupported.length > 0) {
    throw new Seq2SeqRequestError(`${unsupported.join(', ')} ${unsupported.length === 1 ? 'is' : 'are'} not available for encoder-decoder models yet: use --methods attention,saliency,grad_x_input,gradient,integrated_gradients`);
  }
  if (request.assistant) throw new Seq2SeqRequestError('assisted generation is not available for encoder-decoder models: drop --assistant');
  const { timings, time } = stageTimer();
  progress('load', 0);
  // Refusals (source or decoder over the model's positions, estimate over the memory budget) come before any run row
  // is written and before onnxruntime reads the weights; the sessions come from the process's warm pool (warm.ts).
  const { model, admission, sessions } = await time('load', () => warmSeq2Seq(context.sessions ?? processSessionPool(), modelPath, request));
  try {
    const problem = tokenIdProblem({ 'input ids': request.inputIds, 'answer ids': request.answerIds, 'foil ids': options.foilIds }, model.config.vocabSize);
    if (problem) throw new Seq2SeqRequestError(problem);
    const { rendered, sourceIds } = admission;
    if (sourceIds.length === 0) throw new Seq2SeqRequestError('the source is empty: give --prompt, --messages or --input-ids');
    const input: RunInput = { task: request.task, system: request.system, messages: request.messages, prompt: request.prompt };
    if (!rendered) input.decodedPrompt = model.tokenizer.decode(sourceIds, { skip_special_tokens: true });
    const generation: GenerationParams = { ...request.generation, supplied: request.answer !== undefined || request.answerIds !== undefined };
    const runId = context.store.createRun({
      id: context.runId,
      model: { path: model.path, name: model.name, architecture: model.config.modelType, sha256: pairSha256(model), file: model.variant.decoderFile, dtype: model.dtype },
      ...requestRunFields(request),
      input,
      device: { requested: request.device, used: model.decoder.provider, fallbackReason: model.decoder.fallbackReason },
      generation,
      methods,
    });
    try {
      let answerIds: number[];
      if (request.answerIds) answerIds = request.answerIds;
      // A supplied label is tokenized as a target is (with its special tokens: T5 appends </s>, BART wraps <s> … </s>).
      else if (request.answer !== undefined) answerIds = model.tokenizer.encode(request.answer);
      else {
        progress('generate', 0);
        let count = 0;
        const generated = await time('generate', () =>
          generateSeq2Seq(model, sourceIds, generation, { signal: context.signal, onToken: () => progress('generate', Math.min(1, ++count / generation.maxNewTokens)) }),
        );
        if (generated.stopReason === 'cancelled') throw new Error('the run was cancelled');
        answerIds = generated.ids;
        if (generated.seed !== undefined) generation.seed = generated.seed;
      }
      if (answerIds.length === 0) throw new Error('the answer is empty: nothing to explain (raise --max-new-tokens or supply --answer)');
      const ids = [model.config.decoderStartTokenId, ...answerIds];
      const role: TokenRole[] = ids.map((_, i) => (i === 0 ? 'prompt' : 'answer'));
      let attention: AttentionJson | undefined;
      const tensors: NamedTensor[] = [];
      if (methods.includes('attention')) {
        const stage: ProgressStage = 'attention';
        progress(stage, 0);
        const computed = await time(stage, async () => seq2seqAttention(model, await sessions.attention(model), sourceIds, ids));
        attention = seq2seqAttentionJson(computed, answerIds.length);
        tensors.push(...seq2seqTensors(attention));
      }
      let gradientJson: Pick<RunJson, 'gradient' | 'integratedGradients'> = {};
      if (methods.some((id) => GRADIENT_METHODS.has(id))) {
        progress('gradients', 0);
        const computed = await time('gradients', async () => seq2seqGradients(model, await sessions.programs(model), methods, sourceIds, ids, options));
        gradientJson = computed.json;
        tensors.push(...computed.tensors);
      }
      progress('store', 0);
      // The source's raw gradient is a tensor (filled on export), like gradient.raw.
      const { gradient: stored, ...restJson } = gradientJson;
      const patch = {
        ...restJson,
        ...(stored ? { gradient: { ...stored, ...(stored.source ? { source: { ...stored.source, raw: undefined } } : {}) } } : {}),
        tokens: { ids, text: tokenTexts(model, ids), role, wordStarts: tokenWordStarts(model, ids) },
        promptLength: 1,
        answerText: model.tokenizer.decode(answerIds, { skip_special_tokens: true }),
        generation,
        timings,
        source: { ids: sourceIds, text: tokenTexts(model, sourceIds), wordStarts: tokenWordStarts(model, sourceIds), ...(rendered !== undefined ? { rendered } : {}) },
        ...(attention ? { attention } : {}),
        memory: seq2seqMemory(admission, answerIds.length),
        sessions: sessions.used,
      };
      context.store.completeRun(runId, { patch, tensors });
      const run = { ...context.store.getRun(runId)!, ...(attention ? { attention } : {}), ...gradientJson, timings, schema: RUN_SCHEMA } as RunJson;
      progress('done', 1);
      return { runId, run };
    } catch (error) {
      const cancelled = context.signal?.aborted === true;
      context.store.failRun(runId, cancelled ? 'cancelled by the user' : (error instanceof Error ? error.message : String(error)).split('\n')[0], cancelled ? 'cancelled' : 'failed');
      throw error;
    }
  } finally {
    sessions.end();
  }
}
