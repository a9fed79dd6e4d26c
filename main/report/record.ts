// What a report holds: the API responses its views ask for, recorded by calling the calling door's own service
// (the same code that answers the live app), so the static client in the page (shared/static-api) can replay
// them. The calls below mirror
// the views: the run detail view reads getRun(id), listTensors(id) and one getTensorSlice per layer of the
// attention tensor (the static client cuts single heads from those); the compare view reads compareRuns for
// the runs a user selects; the experiment view reads aggregateExperiment (per segment and model choice) and
// experimentTimeline (per metric). Calls of methods the API does not have are skipped.
import { API_ERROR_CODES, isApiMethod, type ApiResponse, type TensorInfo } from '../../shared/api';
import { ATTRIBUTION_METHODS, TIMELINE_METRICS, type ExperimentAggregate } from '../../shared/experiment-math';
import type { RunJson } from '../../shared/run';
import { STATIC_DATA_SCHEMA, type StaticData } from '../../shared/static-api';
import { callKey, packValue, type ReplayResponses } from '../../shared/replay';
import { APP_VERSION } from '../version';
import { ReportError } from './renderer-bundle';

/**
 * What a report reads through: the calling service's `call` (WorkbenchService.call), which validates, answers
 * and never throws. Typed here, not imported, so the report depends on the API contract and not on the service.
 */
export interface ReportSource {
  call(method: string, args: unknown[]): Promise<ApiResponse>;
}

/** Records one call (skipped, resolving null, when the API has no such method). */
type Recorder = (method: string, args: unknown[]) => Promise<ApiResponse | null>;

/**
 * Run sets whose comparison a report carries: all its runs (up to 12, the compare view's limit), and pairs in
 * list order (both orders for up to 4 runs, the order of selection being the user's) for up to 6 runs.
 * @example comparisonSets(['a', 'b', 'c']) // [['a','b','c'], ['a','b'], ['b','a'], ['a','c'], ['c','a'], ['b','c'], ['c','b']]
 */
export function comparisonSets(ids: readonly string[]): string[][] {
  const sets: string[][] = [];
  if (ids.length >= 2 && ids.length <= 12) sets.push([...ids]);
  if (ids.length <= 6) {
    for (let first = 0; first < ids.length; first++) {
      for (let second = first + 1; second < ids.length; second++) {
        const pair = [ids[first], ids[second]];
        if (pair.join() !== sets[0]?.join()) sets.push(pair);
        if (ids.length <= 4) sets.push([ids[second], ids[first]]);
      }
    }
  }
  return sets;
}

async function recordComparisons(record: Recorder, sets: string[][]): Promise<void> {
  for (const ids of sets) {
    const response = await record('compareRuns', [ids]);
    const methods = response?.ok ? ((response.value as { methods?: string[] }).methods ?? []) : [];
    for (const method of methods) await record('compareRuns', [ids, { method }]);
  }
}

/** The experiment view's calls: the aggregate for each segment and model choice, the timeline of each metric. */
async function recordExperiment(record: Recorder, experiment: string): Promise<string[]> {
  const first = await record('aggregateExperiment', [experiment]);
  if (!first?.ok) return [];
  const aggregate = first.value as ExperimentAggregate;
  for (const segment of aggregate.segments) await record('aggregateExperiment', [experiment, { segment }]);
  if (aggregate.models.length > 1) {
    for (const model of aggregate.models) await record('aggregateExperiment', [experiment, { segment: aggregate.headSegment, model: model.path }]);
  }
  const shareMetrics = ATTRIBUTION_METHODS.filter((method) => aggregate.segmentShares[method]).flatMap((method) =>
    aggregate.segments.map((segment) => `share:${method}:${segment}`),
  );
  for (const metric of [...TIMELINE_METRICS, ...shareMetrics]) await record('experimentTimeline', [experiment, metric]);
  return aggregate.runIds;
}

/** One API call a report records: method name and arguments, as a view makes it. */
export type RecordedCall = [method: string, args: unknown[]];

/**
 * Calls for one run beyond getRun: its tensors and every layer of each attention tensor (an encoder-decoder run
 * has three: decoder self-attention, encoder self-attention and cross-attention; the head grid pages each kind).
 */
export function runCalls(runId: string, tensors: TensorInfo[]): RecordedCall[] {
  const calls: RecordedCall[] = [['listTensors', [runId]]];
  const attention = tensors.filter((tensor) => tensor.name.startsWith('attention.') && tensor.axes.length === 4 && tensor.axes[0] === 'layer' && tensor.axes[1] === 'head');
  for (const tensor of attention) {
    for (let layer = 0; layer < tensor.shape[0]; layer++) calls.push(['getTensorSlice', [runId, tensor.name, [layer]]]);
  }
  return calls;
}

export interface ReportContent {
  /** Runs to include, in this order. */
  runIds: string[];
  /** The experiment the report is for: its aggregate calls are recorded too. */
  experiment?: string;
  /** Shown as the app's name in the report. */
  title: string;
}

/**
 * Records everything the report's views read, through the calling service. Throws ReportError('not_found')
 * naming unknown run ids. Example: `await recordReportData(service, {runIds: ['r_1'], title: 'Report'})` →
 * `{schema: 'llm-explainer.static/1', runs: [run], responses: {'listTensors ["r_1"]': {value: [...]}, …}}`.
 */
export async function recordReportData(service: ReportSource, content: ReportContent): Promise<StaticData> {
  const found = await Promise.all(content.runIds.map((id) => service.call('getRun', [id])));
  const missing = content.runIds.filter((_, index) => { const response = found[index]; return response.ok && !response.value; });
  if (missing.length > 0) throw new ReportError('not_found', `no run ${missing.map((id) => `"${id}"`).join(', ')} in ${await databaseOf(service)}`);
  const responses: ReplayResponses = {};
  const record: Recorder = async (method, args) => {
    if (!isApiMethod(method)) return null;
    const response = await service.call(method, args);
    responses[callKey(method, args)] = response.ok ? { value: packValue(response.value) } : { error: response.error };
    return response;
  };
  const runs: RunJson[] = [];
  for (const [index, id] of content.runIds.entries()) {
    const run = found[index];
    if (!run.ok || !run.value) throw new ReportError(API_ERROR_CODES.notFound, `run "${id}" could not be read: ${run.ok ? 'missing' : run.error.message}`);
    runs.push(packValue(run.value) as RunJson);
    const tensors = await service.call('listTensors', [id]);
    for (const [method, args] of runCalls(id, tensors.ok ? (tensors.value as TensorInfo[]) : [])) await record(method, args);
  }
  // The runs list shows the newest first: pairs are offered in that order.
  const listOrder = [...runs].sort((left, right) => right.createdAt.localeCompare(left.createdAt)).map((run) => run.id);
  const sets = comparisonSets(listOrder);
  if (content.experiment !== undefined) {
    const experimentRuns = await recordExperiment(record, content.experiment);
    // The experiment view links to a comparison of its first two runs.
    if (experimentRuns.length >= 2) sets.push(experimentRuns.slice(0, 2));
  }
  await recordComparisons(record, sets);
  return {
    schema: STATIC_DATA_SCHEMA,
    title: content.title,
    appVersion: APP_VERSION,
    createdAt: new Date().toISOString(),
    ...(content.experiment !== undefined ? { experiment: content.experiment } : {}),
    runs,
    responses,
  };
}

/** The run database the service reads, for messages (appInfo's databasePath). */
export async function databaseOf(service: ReportSource): Promise<string> {
  const info = await service.call('appInfo', []);
  return info.ok ? (info.value as { databasePath: string }).databasePath : 'the run database';
}
