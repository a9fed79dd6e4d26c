// Per-run inputs of the aggregations, read from the store: each method's attribution mass over the prompt
// positions (over the source for encoder-decoder runs), the run's segments, one layer of attention with the answer rows marked.
import { attributionMass, type AttributionMethod, type PromptSegment } from '../../shared/experiment-math';
import { attributionEntry } from '../../shared/method-catalog';
import type { HeadStatsJson, RunJson } from '../../shared/run';
import { ATTENTION_TENSORS, SEQ2SEQ_ATTENTION_TENSORS } from '../../shared/tensor-names';
import { promptSide, sourceAttribution, sourceMass } from '../../shared/source-values';
import type { RunReader } from '../store/run-reader';
import { automaticSegments, mergeSegments, segmentFromMask, SEGMENT_TENSOR_PREFIX } from './segments';

/** The stored tensor that gives a method's mass for this run, or undefined. */
export function sourceTensor(reader: RunReader, runId: string, method: AttributionMethod): { tensor: string; rows?: 'answer' | 'all' } | undefined {
  const names = new Set(reader.tensorInfo(runId).map((info) => info.name));
  // Which stored tensors give a method's mass is the catalog's (`sources`, first found wins).
  return attributionEntry(method).sources.find((source) => names.has(source.tensor));
}

/**
 * Whether attention row `row` is an answer row: its query position predicts an answer token (positions
 * promptLength − 1 … length − 2). Runs stored with `--attention-rows all` also hold prompt rows.
 */
export function answerRowFilter(run: RunJson): (row: number) => boolean {
  const positions = run.attention?.rowPositions;
  if (!positions || positions.length === 0) return () => true;
  return (row) => positions[row] >= run.promptLength - 1 && positions[row] <= run.tokens.ids.length - 2;
}

/** Whether the run holds a method's attribution (an encoder-decoder run: over its source). */
export function hasAttribution(reader: RunReader, run: RunJson, method: AttributionMethod): boolean {
  return run.source ? sourceAttribution(run, method) !== undefined : sourceTensor(reader, run.id, method) !== undefined;
}

/**
 * A method's attribution mass over the run's prompt positions (an encoder-decoder run's: over its source
 * tokens, shared/source-values), or undefined when the run lacks it.
 */
export function promptMass(reader: RunReader, run: RunJson, method: AttributionMethod): Float64Array | undefined {
  if (run.source) return sourceMass(run, method);
  const source = sourceTensor(reader, run.id, method);
  if (!source) return undefined;
  const tensor = reader.readTensor(run.id, source.tensor);
  if (!tensor) return undefined;
  const keep = source.rows === 'answer' ? answerRowFilter(run) : undefined;
  return attributionMass(tensor.data, tensor.shape, run.promptLength, keep);
}

/** The run's segments: automatic ones from its input, then the marked ones stored with it. */
export function runSegments(reader: RunReader, run: RunJson): PromptSegment[] {
  const marked: PromptSegment[] = [];
  for (const info of reader.tensorInfo(run.id)) {
    if (!info.name.startsWith(SEGMENT_TENSOR_PREFIX)) continue;
    const mask = reader.readTensor(run.id, info.name);
    if (mask) marked.push(segmentFromMask(info.name.slice(SEGMENT_TENSOR_PREFIX.length), mask.data));
  }
  // An encoder-decoder run's segments lie in its source (promptSide): what the user wrote and the task prefix.
  return mergeSegments(automaticSegments(promptSide(run)), marked);
}

/**
 * The head statistics and stored tensor of the attention that reads the prompt: a decoder-only run's attention,
 * an encoder-decoder run's cross-attention (answer rows over the source; its rows are all answer rows).
 */
export function promptAttention(run: RunJson): { headStats?: HeadStatsJson; tensor: string } {
  return run.source
    ? { headStats: run.attention?.cross?.headStats, tensor: SEQ2SEQ_ATTENTION_TENSORS.cross }
    : { headStats: run.attention?.headStats, tensor: ATTENTION_TENSORS.data };
}
