// Experiments: dataset batches, reruns on other models, aggregation across runs and per-run summary numbers.
// What the service and the CLI call; the pure math lives in shared/experiment-math.ts.
export { DatasetError, parseDataset, readDataset, type DatasetItem, type DatasetProblem } from './dataset';
export { finishedItems, ITEM_TAG_PREFIX, itemRequest, itemTag, runBatch, type BatchOptions, type BatchSettings } from './batch';
export {
  markedSpansOfRun,
  optionsOfRun,
  rerunExperiment,
  rerunExperimentName,
  rerunRequest,
  rerunRuns,
  type AnswerChoice,
  type RerunOptions,
} from './rerun';
export type { QueueFailure, QueueItemResult, QueueProgress, QueueResult, WorkbenchContext } from './queue';
export { aggregateExperiment, finishedRuns, headSegmentGrid, type AggregateOptions } from './aggregate';
export { answerLogProbOf, experimentTimeline, runNumbers, summarizeRuns, type SummaryOptions } from './summary';
export { answerRowFilter, promptMass, runSegments } from './attributions';
export {
  AUTOMATIC_SEGMENTS,
  automaticSegments,
  DATA_CLOSE,
  DATA_OPEN,
  markedSegments,
  SEGMENT_TENSOR_PREFIX,
  type MarkedSpan,
} from './segments';
