// Admission of a run before anything heavy happens: the sequence must fit the model's positions, and the estimated
// peak memory (shared/memory-estimate) the budget. Both refusals are one line that says what to change; they come
// before a run row is written and before onnxruntime reads any weights (pipeline.ts, service createRun).
import type { ExplainRequest } from '../../shared/api';
import { estimatePeakMemory, formatBytes, type MemoryEstimate, type ModelDimensions } from '../../shared/memory-estimate';
import { DEFAULT_EXPLAIN_OPTIONS } from '../../shared/explain-options';
import { readModelFolder, type Dtype, type ReadModelFolder } from './model-folder';
import { promptIds, promptText } from './prompt';
import { answerTokens } from './answer-tokens';
import { isSeq2SeqModelPath, readSeq2SeqFolder } from './seq2seq/folder';
import { admitSeq2SeqRun } from './seq2seq/admission';
import { defaultMemoryBudget, RunTooLargeError } from './run-too-large';

export { DEFAULT_BUDGET_FRACTION, defaultMemoryBudget, RunTooLargeError } from './run-too-large';

/** Bytes per weight of each ONNX variant (transformers.js dtype names). */
const WEIGHT_BYTES: Record<string, number> = { fp32: 4, fp16: 2, q8: 1, int8: 1, uint8: 1, q4: 0.5, q4f16: 0.5, bnb4: 0.5 };
const INTERMEDIATE_NAMES = ['intermediate_size', 'n_inner', 'ffn_dim', 'ffn_hidden_size', 'd_ff'];

/** The estimate's view of a model folder: config numbers and the chosen file's size. */
export function modelDimensions(folder: Pick<ReadModelFolder, 'config' | 'variant'>): ModelDimensions {
  const { config, variant } = folder;
  const raw = config.raw;
  const nested = [raw, raw.text_config, raw.language_config, raw.llm_config].filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
  const intermediate = nested.flatMap((source) => INTERMEDIATE_NAMES.map((name) => source[name])).find((v): v is number => typeof v === 'number' && v > 0);
  return {
    layers: config.numLayers,
    heads: config.numHeads,
    kvHeads: config.numKvHeads,
    hidden: config.hiddenSize,
    headDim: config.headDim,
    vocab: config.vocabSize,
    intermediate: intermediate ?? 4 * config.hiddenSize,
    fileBytes: variant.bytes,
    weightBytes: WEIGHT_BYTES[variant.dtype] ?? 4,
  };
}

/** What was admitted: the estimate and the budget it was checked against. */
export interface Admission {
  estimate: MemoryEstimate;
  budgetBytes: number;
  promptLength: number;
  answerLength: number;
  /** The same estimate for the sequence as it turned out (a generated answer may stop early). */
  estimateFor(promptLength: number, answerLength: number): MemoryEstimate;
}

/**
 * Checks one request against the model folder (config and tokenizer only). Throws RunTooLargeError when the
 * sequence exceeds the model's positions or the estimated peak exceeds the budget.
 *
 * Example: a 3,433-token prompt on the demo model (max_position_embeddings 512) →
 * `RunTooLargeError: the sequence is 3465 tokens (3433 prompt + up to 32 new) but the model's max_position_embeddings is 512: …`.
 */
export function admitRun(folder: ReadModelFolder, request: ExplainRequest): Admission {
  // The same prompt and answer tokens the pipeline will use (supplied answers continue the rendered prompt).
  const input = { task: request.task, system: request.system, messages: request.messages, prompt: request.prompt, inputIds: request.inputIds };
  const rendered = promptText(folder, input);
  const prompt = promptIds(folder, input, rendered);
  const promptLength = prompt.length;
  const supplied = request.answerIds ?? (request.answer !== undefined ? answerTokens(folder, rendered, prompt, request.answer).ids : undefined);
  const answerLength = supplied?.length ?? request.generation.maxNewTokens;
  const total = promptLength + answerLength;
  const { maxPositions, maxPositionsField } = folder.config;
  if (maxPositions !== undefined && total > maxPositions) {
    const answer = supplied ? `${answerLength} answer` : `up to ${answerLength} new`;
    throw new RunTooLargeError(
      `the sequence is ${total} tokens (${promptLength} prompt + ${answer}) but the model's ${maxPositionsField ?? 'maximum positions'} is ${maxPositions}: shorten the input${supplied ? '' : ' or lower --max-new-tokens'}`,
      'context',
    );
  }
  const options = { ...DEFAULT_EXPLAIN_OPTIONS, ...request.options };
  const dimensions = modelDimensions(folder);
  const budgetBytes = request.memoryBudgetBytes ?? defaultMemoryBudget();
  const estimateFor = (prompt: number, answer: number) =>
    estimatePeakMemory(dimensions, {
      promptLength: prompt,
      answerLength: answer,
      answerSupplied: supplied !== undefined,
      methods: request.methods,
      attentionRows: options.attentionRows,
      igSteps: options.igSteps,
      rawGradient: options.keepRawGradient || request.methods.includes('gradient'),
      budgetBytes,
    });
  const estimate = estimateFor(promptLength, answerLength);
  if (estimate.peakBytes > budgetBytes) {
    throw new RunTooLargeError(
      `the run needs about ${formatBytes(estimate.peakBytes)} (estimated peak, ${estimate.stage} stage, ${total} tokens, ${request.methods.join(', ') || 'no methods'}) but the memory budget is ${formatBytes(budgetBytes)}: ${advice(request, options.attentionRows, estimate)}`,
      'memory',
    );
  }
  return { estimate, budgetBytes, promptLength, answerLength, estimateFor };
}

/** The methods behind each forward-only stage of the estimate. */
const FORWARD_STAGE_METHODS: Partial<Record<string, string[]>> = { forward: ['logit_lens'], perturbation: ['occlusion', 'faithfulness'], value_zeroing: ['value_zeroing'] };

/** What to change, in the order that saves most for what the estimate is made of. */
function advice(request: ExplainRequest, rows: 'answer' | 'all', estimate: MemoryEstimate): string {
  const methods = request.methods;
  const hints: string[] = [];
  if (estimate.stage === 'gradients') {
    const gradient = methods.filter((m) => m !== 'attention');
    hints.push(gradient.length > 1 ? `fewer methods (drop ${gradient.slice(1).join(', ')})` : `fewer methods (drop ${gradient[0]})`);
    if (methods.includes('integrated_gradients')) hints.push('fewer IG steps (--ig-steps)');
    if (methods.some((m) => m === 'saliency' || m === 'grad_x_input' || m === 'gradient')) hints.push('fewer rows (a shorter answer, or --target sequence)');
  } else if (estimate.stage === 'attention' && rows === 'all') {
    hints.push('fewer rows (--attention-rows answer)');
  } else if (FORWARD_STAGE_METHODS[estimate.stage]) {
    // Forward-only stages already run with a batch of 1 when refused (memory-estimate-forward.ts).
    const drop = FORWARD_STAGE_METHODS[estimate.stage]!.filter((m) => methods.includes(m));
    hints.push(`fewer methods (drop ${drop.join(', ')})`);
  }
  hints.push('a shorter input', '--memory-budget SIZE if the machine has more to spare');
  return `use ${hints.join(', ')}`;
}

/**
 * The refusal message for a request, or undefined when it fits — or when the folder cannot be read, which the run
 * itself then reports with its own error. Reads config and tokenizer only (the service checks before queueing).
 */
export async function refusalOf(modelPath: string, request: ExplainRequest): Promise<string | undefined> {
  try {
    // Encoder-decoder folders have their own rule (seq2seq/admission.ts).
    if (await isSeq2SeqModelPath(modelPath)) {
      await admitSeq2SeqRun(await readSeq2SeqFolder(modelPath, { dtype: request.dtype as Dtype | undefined }), request);
      return undefined;
    }
    admitRun(await readModelFolder(modelPath, { dtype: request.dtype as Dtype | undefined }), request);
    return undefined;
  } catch (error) {
    return error instanceof RunTooLargeError ? error.message : undefined;
  }
}
