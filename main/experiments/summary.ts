// Per-run summary numbers for the compare view (answer changed, top attributed input tokens, attention
// entropy, answer log-probability, IG completeness, segment shares) and timelines of one of them across the
// runs of an experiment in run order.
import {
  answerChanged,
  ATTRIBUTION_METHODS,
  gridMean,
  segmentShares,
  topTokenShares,
  TIMELINE_METRICS,
  type AttributionMethod,
  type RunNumbers,
  type TimelineSeries,
} from '../../shared/experiment-math';
import type { RunJson } from '../../shared/run';
import type { RunReader } from '../store/run-reader';
import { hasAttribution, promptAttention, promptMass, runSegments } from './attributions';
import { promptSide } from '../../shared/source-values';
import { finishedRuns } from './aggregate';
import { promptWordMass } from '../../shared/word-view';

/** The k prompt words with the largest share of the run's prompt mass (a word's share: its tokens' summed). */
function topWordShares(run: RunJson, mass: Float64Array, k: number): RunNumbers['topTokens'] {
  const words = promptWordMass(run, mass);
  return topTokenShares(words.mass, words.texts, k).map((share) => ({ ...share, position: words.starts[share.position] }));
}

export interface SummaryOptions {
  /** Compare every answer with this run's; default each run's source run (reruns), else none. */
  referenceRunId?: string;
  /** Method for top tokens and segment shares; default the first of ATTRIBUTION_METHODS the run has. */
  method?: AttributionMethod;
  /** Top tokens per run (default 5). */
  topK?: number;
}

/**
 * Σ log p(answer token | prefix) when the run stored per-token gradient targets (`gradient.target` "token":
 * `targetValues` are exactly those log-probabilities); otherwise null with the reason.
 */
export function answerLogProbOf(run: RunJson): { value: number | null; note?: string } {
  const gradient = run.gradient;
  if (!gradient?.targetValues?.length) {
    return { value: null, note: 'not stored: the answer log-probability comes with the gradient methods (saliency, grad_x_input, integrated_gradients)' };
  }
  if ((gradient.target ?? 'token') !== 'token') return { value: null, note: `not stored: the gradient target was "${gradient.target}", not per-token log-probabilities` };
  return { value: gradient.targetValues.reduce((sum, v) => sum + v, 0) };
}

/** The summary numbers of one run. `reference` is the run whose answer it is compared with. */
export function runNumbers(reader: RunReader, run: RunJson, reference: RunJson | undefined, options: SummaryOptions = {}): RunNumbers {
  const method = options.method ?? ATTRIBUTION_METHODS.find((m) => hasAttribution(reader, run, m));
  const mass = method && promptMass(reader, run, method);
  const logProb = answerLogProbOf(run);
  const numbers: RunNumbers = {
    runId: run.id,
    createdAt: run.createdAt,
    modelName: run.model.name,
    modelPath: run.model.path,
    experiment: run.experiment,
    answerText: run.answerText,
    topTokens: mass ? topTokenShares(mass, promptSide(run).tokens.text, options.topK ?? 5) : [],
    topWords: mass ? topWordShares(promptSide(run), mass, options.topK ?? 5) : [],
    segmentShares: mass ? segmentShares(mass, runSegments(reader, run)) : {},
    meanEntropy: gridMean(promptAttention(run).headStats?.entropy),
    answerLogProb: logProb.value,
    igCompletenessError: run.integratedGradients?.completenessError ?? null,
    igDelta: run.integratedGradients?.delta ?? null,
    answerTokens: run.tokens.ids.length - run.promptLength,
    assistantAcceptance: run.generation.assistant?.acceptanceRate ?? null,
  };
  if (method && mass) numbers.method = method;
  if (logProb.note) numbers.answerLogProbNote = logProb.note;
  if (reference && reference.id !== run.id) {
    numbers.referenceRunId = reference.id;
    numbers.answerChanged = answerChanged(run.answerText, reference.answerText);
  }
  return numbers;
}

/**
 * Summary numbers of several runs (the compare view). Unknown ids throw.
 *
 * @example summarizeRuns(store, [original, rerun])[1]
 * // → {runId: rerun, referenceRunId: original, answerChanged: false, topTokens: [{position: 12, text: ' 9', share: 0.21}, …],
 * //    meanEntropy: 1.32, answerLogProb: -4.1, igCompletenessError: 0.004, …}
 */
export function summarizeRuns(reader: RunReader, ids: readonly string[], options: SummaryOptions = {}): RunNumbers[] {
  const runs = ids.map((id) => {
    const run = reader.getRun(id);
    if (!run) throw Object.assign(new Error(`no run with id ${id}`), { code: 'not_found' });
    return run;
  });
  const explicit = options.referenceRunId === undefined ? undefined : reader.getRun(options.referenceRunId);
  if (options.referenceRunId !== undefined && !explicit) throw Object.assign(new Error(`no run with id ${options.referenceRunId}`), { code: 'not_found' });
  return runs.map((run) => {
    const reference = explicit ?? (run.sourceRunId ? reader.getRun(run.sourceRunId) : undefined);
    return runNumbers(reader, run, reference, options);
  });
}

/**
 * One metric over the finished runs of an experiment, in run order. Metrics: answerLogProb, meanEntropy,
 * igCompletenessError, answerTokens, answerChanged (1/0 against the run's source run, else against the first
 * run), assistantAcceptance, or `share:<method>:<segment>` (e.g. "share:integrated_gradients:data"). Runs without the value give null.
 */
export function experimentTimeline(reader: RunReader, experiment: string, metric: string): TimelineSeries {
  const runs = finishedRuns(reader, experiment);
  const share = /^share:([^:]+):(.+)$/.exec(metric);
  if (share && !(ATTRIBUTION_METHODS as readonly string[]).includes(share[1])) {
    throw Object.assign(new Error(`unknown method "${share[1]}" in ${metric}; methods: ${ATTRIBUTION_METHODS.join(', ')}`), { code: 'invalid_argument' });
  }
  const known: readonly string[] = TIMELINE_METRICS;
  if (!share && !known.includes(metric)) {
    throw Object.assign(new Error(`unknown metric "${metric}"; metrics: ${known.join(', ')}, share:<method>:<segment>`), { code: 'invalid_argument' });
  }
  const points = runs.map((run) => {
    const reference = run.sourceRunId ? reader.getRun(run.sourceRunId) : runs[0];
    const numbers = runNumbers(reader, run, reference, share ? { method: share[1] as AttributionMethod } : {});
    let value: number | null;
    if (share) value = numbers.method ? (numbers.segmentShares[share[2]] ?? null) : null;
    else if (metric === 'answerChanged') value = numbers.answerChanged === undefined ? (run.id === runs[0].id ? 0 : null) : Number(numbers.answerChanged);
    else value = numbers[metric as 'answerLogProb' | 'meanEntropy' | 'igCompletenessError' | 'answerTokens' | 'assistantAcceptance'] ?? null;
    return { runId: run.id, createdAt: run.createdAt, modelName: run.model.name, value };
  });
  return { experiment, metric, points };
}
