// Reruns: the same input explained again on another model folder, each new run linked to its original
// (sourceRunId). The answer is kept by default: the original answer text is teacher-forced on the new model,
// so both runs explain the same words and their attributions can be compared; `answer: 'generate'` lets the
// new model generate with the original generation parameters instead (an answer the user supplied is
// always kept — it is part of the input). Reruns are resumable like batches: a source run that already has a
// finished rerun in the target experiment on the same model folder is skipped.
import { resolve } from 'node:path';
import type { ExplainRequest } from '../../shared/api';
import type { ExplainOptions } from '../../shared/explain-options';
import type { DeviceChoice, RunJson } from '../../shared/run';
import type { RunReader } from '../store/run-reader';
import type { RunSummary } from '../../shared/run';
import { segmentFromMask, segmentTexts, SEGMENT_TENSOR_PREFIX, type MarkedSpan } from './segments';

export type AnswerChoice = 'keep' | 'generate';


/** What a rerun of one source run may change (its CLI flags and API fields). */
export interface RerunSettings {
  /** The model folder to run on. */
  modelPath: string;
  /** Default "keep": teacher-force the original answer. */
  answer?: AnswerChoice;
  /** Default: the source run's methods. */
  methods?: string[];
  /** Overrides of the options recovered from the source run. */
  options?: Partial<ExplainOptions>;
  /** Default: the device the source run asked for. */
  device?: DeviceChoice;
  dtype?: string;
  /** Memory budget of each run (bytes; default: a share of physical memory). */
  memoryBudgetBytes?: number;
}

/**
 * The skip rule of reruns (CLI and service alike): a source run that already has a finished rerun in the
 * target experiment on the same model folder is not run again.
 */
export function earlierRerun(reader: RunReader, sourceId: string, experiment: string, modelPath: string): RunSummary | undefined {
  return reader.rerunsOf(sourceId).find((run) => run.status === 'done' && run.experiment === experiment && run.modelPath === modelPath);
}

/** The default target experiment of a rerun. */
export function rerunExperimentName(sourceExperiment: string, modelName: string): string {
  return `${sourceExperiment}@${modelName}`.slice(0, 200);
}

/** The explain options a stored run was made with, as far as its JSON records them. */
export function optionsOfRun(run: RunJson): Partial<ExplainOptions> {
  const options: Partial<ExplainOptions> = {};
  if (run.attention?.rows) options.attentionRows = run.attention.rows;
  const target = run.gradient?.target;
  if (target === 'token' || target === 'sequence' || target === 'contrastive') options.target = target;
  const ig = run.integratedGradients;
  if (ig) {
    options.igSteps = ig.steps;
    options.igBaseline = ig.baseline as ExplainOptions['igBaseline'];
    options.igRule = ig.rule as ExplainOptions['igRule'];
    // The same path points as the source run (runs before issue 14 record the spacing they used, too).
    if (ig.spacing === 'uniform' || ig.spacing === 'geometric') options.igSpacing = ig.spacing;
  }
  return options;
}

/**
 * The request that re-runs `source` on another model. Runs made from exact prompt token ids (no messages,
 * no prompt) are re-run with the same ids, which only mean the same text to the same tokenizer.
 */
export function rerunRequest(source: RunJson, options: RerunSettings, experiment: string): ExplainRequest {
  const { supplied: _supplied, ...generation } = source.generation;
  const request: ExplainRequest = {
    modelPath: resolve(options.modelPath),
    task: source.task,
    system: source.input.system,
    messages: source.input.messages,
    prompt: source.input.prompt,
    generation,
    methods: options.methods ?? source.methods,
    options: { ...optionsOfRun(source), ...options.options },
    device: options.device ?? source.device.requested,
    experiment,
    tags: source.tags,
    sourceRunId: source.id,
  };
  if (options.dtype !== undefined) request.dtype = options.dtype;
  if (options.memoryBudgetBytes !== undefined) request.memoryBudgetBytes = options.memoryBudgetBytes;
  if (!source.input.messages?.length && source.input.prompt === undefined) request.inputIds = source.tokens.ids.slice(0, source.promptLength);
  if (source.generation.supplied || (options.answer ?? 'keep') === 'keep') request.answer = source.answerText;
  return request;
}

/** The marked segments of a stored run as spans to find again in a rerun's tokens. */
export function markedSpansOfRun(reader: RunReader, run: RunJson): MarkedSpan[] {
  const spans: MarkedSpan[] = [];
  for (const info of reader.tensorInfo(run.id)) {
    if (!info.name.startsWith(SEGMENT_TENSOR_PREFIX)) continue;
    const mask = reader.readTensor(run.id, info.name);
    if (!mask) continue;
    const name = info.name.slice(SEGMENT_TENSOR_PREFIX.length);
    for (const text of segmentTexts(run, segmentFromMask(name, mask.data))) spans.push({ name, text });
  }
  return spans;
}
