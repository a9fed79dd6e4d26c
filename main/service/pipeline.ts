// One run, end to end: load the model folder, build the teacher-forced token sequence (generating the answer
// unless the user supplied it), run the requested explainer families, and store everything in one write.
// Every door (CLI, HTTP, Electron IPC through the inference worker) calls this one function.
import type { ExplainRequest } from '../../shared/api';
import { RUN_SCHEMA, type RunMemoryJson, type DeviceChoice, type GenerationParams, type RunInput, type RunJson, type TokenRole } from '../../shared/run';
import { DEFAULT_EXPLAIN_OPTIONS, type ExplainOptions } from '../../shared/explain-options';
import type { NamedTensor } from '../../shared/tensor';
import { promptIds, promptText, tokenTexts, tokenWordStarts } from '../engine/prompt';
import { answerTokens } from '../engine/answer-tokens';
import { tokenIdProblem } from '../../shared/token-ids';
import { generate } from '../engine/generate';
import { generateAssistedAnswer } from '../engine/assisted-answer';
import { ensureDemoModel } from '../demo/demo-model';
import { familiesFor, validateMethods } from '../engine/explainers/registry';
import type { ExplainContext } from '../engine/explainers/explainer';
import { processSessionPool, warmModel, type WarmModel } from '../engine/warm-sessions';
import { MEMORY_RULE_VERSION } from '../../shared/memory-estimate';
import { holdAtStage } from '../fault-injection';
import { isSeq2SeqModelPath } from '../engine/seq2seq/folder';
import { runSeq2SeqExplanation } from './seq2seq-run';
import { stageTimer } from './stage-timer';
import { requestRunFields } from './request-run-fields';
import type { PipelineContext, PipelineResult } from './pipeline-types';

export type { PipelineContext, PipelineResult } from './pipeline-types';



export class CancelledError extends Error {
  readonly code = 'cancelled';
  constructor() {
    super('the run was cancelled');
    this.name = 'CancelledError';
  }
}

function checkSignal(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

/** Token ids outside the model's vocabulary: refused before the run is created (the CLI exits 2). */
export class TokenIdError extends Error {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'TokenIdError';
  }
}

export function resolveExplainOptions(partial?: Partial<ExplainOptions>): ExplainOptions {
  return { ...DEFAULT_EXPLAIN_OPTIONS, ...(partial ?? {}) };
}

export async function runExplanation(request: ExplainRequest, context: PipelineContext): Promise<PipelineResult> {
  const progress = context.onProgress ?? (() => {});
  validateMethods(request.methods);
  const { timings, time } = stageTimer();

  progress('load', 0);
  await holdAtStage('load', context.signal);
  checkSignal(context.signal);
  const modelPath = request.modelPath ?? (await ensureDemoModel(context.demoModelDir));
  // Encoder-decoder folders (encoder_model.onnx + decoder_model_merged.onnx) run through their own pipeline.
  if (await isSeq2SeqModelPath(modelPath)) return runSeq2SeqExplanation(request, context, modelPath);
  // Refusals (sequence over the model's positions, estimate over the memory budget) come before any run row is
  // written and before onnxruntime reads the weights: only config and tokenizer have been read. The model and the
  // explainers' sessions come from the process's warm pool and go back to it after the run (warm-sessions.ts).
  const warm = await time('load', () => warmModel(context.sessions ?? processSessionPool(), modelPath, request, { weightsCache: context.cacheDir, oneShot: context.oneShot }));
  try {
    return await explainLoaded(request, context, warm, timings, time);
  } finally {
    warm.sessions.end();
  }
}

async function explainLoaded(
  request: ExplainRequest,
  context: PipelineContext,
  { model: loaded, admission, sessions }: WarmModel,
  timings: Record<string, number>,
  time: <T>(stage: string, work: () => Promise<T>) => Promise<T>,
): Promise<PipelineResult> {
  const { store, signal } = context;
  const progress = context.onProgress ?? (() => {});
  const options = resolveExplainOptions(request.options);
  const methods = validateMethods(request.methods, options);
  checkSignal(signal);
  const idProblem = tokenIdProblem({ 'input ids': request.inputIds, 'answer ids': request.answerIds, 'foil ids': options.foilIds }, loaded.config.vocabSize);
  if (idProblem) throw new TokenIdError(idProblem);

  const input: RunInput = { task: request.task, system: request.system, messages: request.messages, prompt: request.prompt };
  if (request.inputIds && !request.messages?.length && request.prompt === undefined) {
    input.decodedPrompt = loaded.tokenizer.decode(request.inputIds, { skip_special_tokens: true });
  }
  const generation: GenerationParams = {
    ...request.generation,
    supplied: request.answer !== undefined || request.answerIds !== undefined,
  };
  const runId = store.createRun({
    id: context.runId,
    model: {
      path: loaded.path,
      name: loaded.name,
      architecture: loaded.config.modelType,
      sha256: loaded.onnxSha256,
      file: loaded.onnxFile,
      dtype: loaded.dtype,
    },
    ...requestRunFields(request),
    input,
    device: { requested: request.device, used: loaded.session.provider, fallbackReason: loaded.session.fallbackReason },
    generation,
    methods,
  });

  let generatedCount = 0;
  try {
    // Prompt ids: exact ids win over text; then the answer is supplied (teacher forcing) or generated.
    const promptInput = { ...input, inputIds: request.inputIds };
    const rendered = promptText(loaded, promptInput);
    const prompt = promptIds(loaded, promptInput, rendered);
    let answerIds: number[];
    const warnings: string[] = [];
    let drafted: boolean[] | undefined;
    if (request.answerIds) {
      answerIds = request.answerIds;
    } else if (request.answer !== undefined) {
      const supplied = answerTokens(loaded, rendered, prompt, request.answer);
      answerIds = supplied.ids;
      warnings.push(...supplied.warnings);
    } else if (request.assistant) {
      progress('generate', 0);
      const assisted = await generateAssistedAnswer(loaded, request.assistant, prompt, generation, time, {
        signal,
        onToken: () => progress('generate', Math.min(1, ++generatedCount / generation.maxNewTokens)),
      });
      if (assisted.stopReason === 'cancelled') throw new CancelledError();
      answerIds = assisted.ids;
      drafted = assisted.drafted;
      generation.assistant = assisted.record;
      if (assisted.seed !== undefined) generation.seed = assisted.seed;
    } else {
      progress('generate', 0);
      await holdAtStage('generate', signal);
      checkSignal(signal);
      const generated = await time('generate', () =>
        generate(loaded, loaded.session, prompt, generation, {
          signal,
          onToken: () => progress('generate', Math.min(1, ++generatedCount / generation.maxNewTokens)),
        }),
      );
      if (generated.stopReason === 'cancelled') throw new CancelledError();
      answerIds = generated.ids;
      // A sampled run records the seed it drew, so it can be repeated exactly.
      if (generated.seed !== undefined) generation.seed = generated.seed;
    }
    if (answerIds.length === 0) throw new Error('the answer is empty: nothing to explain (raise --max-new-tokens or supply --answer)');
    checkSignal(signal);

    const families = familiesFor(methods);
    // A one-shot run closes the plain session once no later stage runs it (warm-sessions.ts releaseUnused).
    const modelSessionNeeded = (from: number) => families.slice(from).some(({ family }) => family.runsModelSession === true);
    await sessions.releaseUnused(modelSessionNeeded(0));

    const ids = [...prompt, ...answerIds];
    const promptLength = prompt.length;
    const role: TokenRole[] = ids.map((_, i) => (i < promptLength ? 'prompt' : 'answer'));
    const text = tokenTexts(loaded, ids);
    const answerText = loaded.tokenizer.decode(answerIds, { skip_special_tokens: true });

    const tensors: NamedTensor[] = [];
    let json: Partial<RunJson> = {};
    // Forward-only stages batch as many sequences as the budget allows at the answer's real length.
    const { batches } = admission.estimateFor(promptLength, answerIds.length);
    for (const [index, { family, stage }] of families.entries()) {
      const familyContext: ExplainContext = {
        model: loaded,
        ids,
        promptLength,
        options,
        // The explainers' sessions go where generation went (after any fallback).
        device: loaded.session.provider as DeviceChoice,
        cacheDir: context.cacheDir,
        signal,
        onProgress: (fraction, message) => progress(stage, fraction, message),
        sessions,
        batches,
        earlier: json,
        memoryHeadroomBytes: admission.budgetBytes - admission.estimate.peakBytes,
        oneShot: sessions.oneShot,
      };
      // An expensive family says what it will cost before it starts (value zeroing's forward count).
      progress(stage, 0, family.costLine?.(familyContext));
      await holdAtStage(stage, signal);
      checkSignal(signal);
      const result = await time(stage, () => family.compute(familyContext, methods));
      await sessions.releaseUnused(modelSessionNeeded(index + 1));
      checkSignal(signal);
      json = { ...json, ...result.json };
      tensors.push(...result.tensors);
    }

    progress('store', 0);
    const estimate = admission.estimateFor(promptLength, answerIds.length);
    const memory: RunMemoryJson = {
      rule: MEMORY_RULE_VERSION,
      estimateBytes: estimate.peakBytes,
      estimateStage: estimate.stage,
      budgetBytes: admission.budgetBytes,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    const patch = {
      tokens: { ids, text, role, ...(drafted ? { drafted } : {}), wordStarts: tokenWordStarts(loaded, ids) },
      promptLength,
      answerText,
      generation,
      timings,
      ...(warnings.length > 0 ? { warnings } : {}),
      memory,
      sessions: sessions.used,
      ...json,
    };
    const storeStart = performance.now();
    store.completeRun(runId, { patch, tensors });
    timings.store = Math.round((performance.now() - storeStart) * 10) / 10;
    store.updateTimings(runId, timings);
    const run = { ...store.getRun(runId)!, ...json, timings, schema: RUN_SCHEMA } as RunJson;
    progress('done', 1);
    return { runId, run };
  } catch (error) {
    const cancelled = signal?.aborted || error instanceof CancelledError;
    store.failRun(runId, cancelled ? 'cancelled by the user' : oneLine(error), cancelled ? 'cancelled' : 'failed');
    if (cancelled && !(error instanceof CancelledError)) throw new CancelledError();
    throw error;
  }
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}
