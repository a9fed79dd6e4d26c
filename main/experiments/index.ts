// Experiments: dataset items and reruns as explain requests, aggregation across runs and per-run summary
// numbers. What the service calls; running batches lives with the service (service/batches, the one batch
// runner for the app and the CLI); the pure math lives in shared/experiment-math.ts.
export { DatasetError, parseDataset, readDataset, type DatasetItem, type DatasetProblem } from './dataset';
export { finishedItems, ITEM_TAG_PREFIX, itemRequest, itemTag, type BatchSettings } from './batch';
export {
  earlierRerun,
  markedSpansOfRun,
  optionsOfRun,
  rerunExperimentName,
  rerunRequest,
  type AnswerChoice,
  type RerunSettings,
} from './rerun';
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
  hasMarkedSegments,
  storeMarkedSegments,
  type MarkedSpan,
} from './segments';
