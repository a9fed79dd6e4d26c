// One encoder-decoder run, end to end: load the folder, render and tokenize the source, generate the answer (or take
// the supplied one), explain it with attention, and store everything in one write. The pipeline hands seq2seq
// folders here (main/service/pipeline.ts); the run JSON keeps every decoder-only field and adds `source`,
// `attention.encoder` and `attention.cross`. `tokens` are the decoder's ids: the start token (role "prompt",
// promptLength 1) and the answer after it.
import type { ExplainRequest, ProgressStage } from '../../shared/api';
import { RUN_SCHEMA, type AttentionJson, type GenerationParams, type RunInput, type RunJson, type TokenRole } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import { tokenIdProblem } from '../../shared/token-ids';
import { validateMethods } from '../engine/explainers/registry';
import { tokenTexts, tokenWordStarts } from '../engine/prompt';
import { createHash } from 'node:crypto';
import { stageTimer } from './stage-timer';
import { requestRunFields } from './request-run-fields';
import type { PipelineContext, PipelineResult } from './pipeline-types';
import { openAttentionSessions, seq2seqAttention, type Seq2SeqAttention } from '../engine/seq2seq/attention';
import { loadSeq2SeqFolder, type LoadedSeq2Seq } from '../engine/seq2seq/folder';
import { generateSeq2Seq } from '../engine/seq2seq/generate';
import { renderSource } from '../engine/seq2seq/source';
import { lookupEmbeddings, openSeq2SeqGradients, reduceGradient, runSeq2SeqGradients, sourceIntegratedGradients } from '../engine/seq2seq/gradients';
import { decodeModel } from '../engine/onnx/proto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_EXPLAIN_OPTIONS } from '../../shared/explain-options';

/** Methods that run on encoder-decoder models today. */
export const SEQ2SEQ_METHODS: ReadonlySet<string> = new Set(['attention', 'saliency', 'grad_x_input', 'integrated_gradients']);

/** A request this model kind cannot serve (the CLI exits 2 on `invalid_argument`). */
export class Seq2SeqRequestError extends Error {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'Seq2SeqRequestError';
  }
}

/** Tensor names of the seq2seq attention in the store (float16 like attention.data). */
export const SEQ2SEQ_TENSORS = { encoder: 'attention.encoder.data', cross: 'attention.cross.data' } as const;

function flat4(data: number[][][][]): Float32Array {
  return Float32Array.from(data.flat(3));
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
    encoder: attention.encoder,
    cross: { data: crossData, mean: crossMean },
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

const GRADIENT_METHODS: ReadonlySet<string> = new Set(['saliency', 'grad_x_input', 'integrated_gradients']);

/**
 * Saliency and gradient × input of every answer token's log-probability with respect to the decoder input embeddings
 * (`gradient.saliency`, `gradient.gradXInput`: [row][decoder position]) and the source embeddings
 * (`gradient.source`: [row][s]); integrated gradients of the summed answer log-probability over the source.
 */
async function seq2seqGradientJson(model: LoadedSeq2Seq, methods: string[], sourceIds: number[], decoderIds: number[], igSteps: number): Promise<Pick<RunJson, 'gradient' | 'integratedGradients'>> {
  const read = async (file: string) => decodeModel(await readFile(join(model.path, file)));
  const encoder = await read(model.variant.encoderFile);
  const decoder = await read(model.variant.decoderFile);
  const answerCount = decoderIds.length - 1;
  // Row t targets answer token t (= decoder id t + 1); the last decoder position predicts nothing and is not seeded.
  const targetIds = [...decoderIds.slice(1), decoderIds[decoderIds.length - 1]];
  const out: Pick<RunJson, 'gradient' | 'integratedGradients'> = {};
  if (methods.includes('saliency') || methods.includes('grad_x_input')) {
    const program = await openSeq2SeqGradients(encoder, decoder, sourceIds, decoderIds, targetIds, answerCount);
    try {
      const result = await runSeq2SeqGradients(program, sourceIds, decoderIds, targetIds);
      const source = reduceGradient(result.source, result.sourceShape, lookupEmbeddings(program.composed.source, sourceIds).data as Float32Array);
      const target = reduceGradient(result.decoder, result.decoderShape, lookupEmbeddings(program.composed.decoder, decoderIds).data as Float32Array);
      const pick = (values: { saliency: number[][]; gradXInput: number[][] }) => ({
        ...(methods.includes('saliency') ? { saliency: values.saliency } : {}),
        ...(methods.includes('grad_x_input') ? { gradXInput: values.gradXInput } : {}),
      });
      out.gradient = { target: 'token', targetValues: result.logProbs.slice(0, answerCount), ...pick(target), source: pick(source) };
    } finally {
      await program.release();
    }
  }
  if (methods.includes('integrated_gradients')) {
    const program = await openSeq2SeqGradients(encoder, decoder, sourceIds, decoderIds, targetIds, 1);
    try {
      const ig = await sourceIntegratedGradients(program, sourceIds, decoderIds, targetIds, answerCount, { steps: igSteps, padTokenId: model.config.padTokenId });
      out.integratedGradients = { steps: ig.steps, baseline: ig.baseline, rule: 'midpoint', attributions: ig.attributions, delta: ig.delta, completenessError: ig.completenessError, input: 'source' };
    } finally {
      await program.release();
    }
  }
  return out;
}

/** One hash for the pair of graphs a run used (the encoder's sha256 and the decoder's, hashed together). */
export function pairSha256(model: Pick<LoadedSeq2Seq, 'sha256'>): string {
  return createHash('sha256').update(`${model.sha256.encoder}\n${model.sha256.decoder}`).digest('hex');
}

export async function runSeq2SeqExplanation(request: ExplainRequest, context: PipelineContext, modelPath: string): Promise<PipelineResult> {
  const progress = context.onProgress ?? (() => {});
  const methods = validateMethods(request.methods);
  const unsupported = methods.filter((id) => !SEQ2SEQ_METHODS.has(id));
  if (unsupported.length > 0) {
    throw new Seq2SeqRequestError(`${unsupported.join(', ')} ${unsupported.length === 1 ? 'is' : 'are'} not available for encoder-decoder models yet: use --methods attention,saliency,grad_x_input,integrated_gradients`);
  }
  if (request.assistant) throw new Seq2SeqRequestError('assisted generation is not available for encoder-decoder models: drop --assistant');
  const { timings, time } = stageTimer();
  progress('load', 0);
  const model = await time('load', () => loadSeq2SeqFolder(modelPath, { dtype: request.dtype as never, device: request.device }));
  try {
    const problem = tokenIdProblem({ 'input ids': request.inputIds, 'answer ids': request.answerIds }, model.config.vocabSize);
    if (problem) throw new Seq2SeqRequestError(problem);
    const rendered = request.inputIds ? undefined : renderSource(model.config, request);
    const sourceIds = request.inputIds ?? model.tokenizer.encode(rendered ?? '');
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
        const computed = await time(stage, async () => {
          const sessions = await openAttentionSessions(model);
          try {
            return await seq2seqAttention(model, sessions, sourceIds, ids);
          } finally {
            await sessions.release();
          }
        });
        attention = seq2seqAttentionJson(computed, answerIds.length);
        tensors.push(...seq2seqTensors(attention));
      }
      let gradientJson: Pick<RunJson, 'gradient' | 'integratedGradients'> = {};
      if (methods.some((id) => GRADIENT_METHODS.has(id))) {
        progress('gradients', 0);
        gradientJson = await time('gradients', () => seq2seqGradientJson(model, methods, sourceIds, ids, request.options?.igSteps ?? DEFAULT_EXPLAIN_OPTIONS.igSteps));
      }
      progress('store', 0);
      const patch = {
        ...gradientJson,
        tokens: { ids, text: tokenTexts(model, ids), role, wordStarts: tokenWordStarts(model, ids) },
        promptLength: 1,
        answerText: model.tokenizer.decode(answerIds, { skip_special_tokens: true }),
        generation,
        timings,
        source: { ids: sourceIds, text: tokenTexts(model, sourceIds), wordStarts: tokenWordStarts(model, sourceIds), ...(rendered !== undefined ? { rendered } : {}) },
        ...(attention ? { attention } : {}),
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
    await model.release();
  }
}
