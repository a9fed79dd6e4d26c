// Per-run inputs of the aggregations, read from the store: each method's attribution mass over the prompt
// positions, the run's segments, one layer of attention with the answer rows marked.
import { attributionMass, type AttributionMethod, type PromptSegment } from '../../shared/experiment-math';
import { attributionEntry } from '../../shared/method-catalog';
import type { RunJson } from '../../shared/run';
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

/** A method's attribution mass over the run's prompt positions, or undefined when the run lacks it. */
export function promptMass(reader: RunReader, run: RunJson, method: AttributionMethod): Float64Array | undefined {
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
  return mergeSegments(automaticSegments(run), marked);
}
