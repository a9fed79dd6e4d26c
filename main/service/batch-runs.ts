// The CLI's batch and rerun commands as functions: dataset items (or stored runs) run one after another in this
// process through runQueue, resumable. The service's own batches (service/batches, startBatch and rerun in the
// API) queue the same requests — built by experiments/batch itemRequest and experiments/rerun rerunRequest, with
// the same skip rules (finishedItems, earlierRerun) and the same segment storage — as ordinary run jobs.
import { resolve } from 'node:path';
import type { RunJson } from '../../shared/run';
import { ensureDemoModel } from '../demo/demo-model';
import { inspectModelFolder } from '../engine/model-folder';
import { finishedItems, itemRequest, itemSpans, itemTag, type BatchSettings } from '../experiments/batch';
import type { DatasetItem } from '../experiments/dataset';
import { earlierRerun, markedSpansOfRun, rerunExperimentName, rerunRequest, type RerunSettings } from '../experiments/rerun';
import { hasMarkedSegments, storeMarkedSegments } from '../experiments/segments';
import { runQueue, type QueueItemResult, type QueueJob, type QueueProgress, type QueueResult, type WorkbenchContext } from './run-queue';

export interface BatchOptions extends WorkbenchContext {
  experiment: string;
  settings: BatchSettings;
  onProgress?: (progress: QueueProgress) => void;
}

/**
 * Runs every dataset item not finished yet. Stops cleanly on `signal` (the current run is stored as
 * cancelled; rerunning resumes). Throws only when nothing can run (bad model folder, unknown method).
 *
 * @example
 * const items = await readDataset('questions.jsonl');
 * const result = await runBatch(items, {store, cacheDir, demoModelDir, experiment: 'support-faq',
 *   settings: {modelPath: '/models/tiny', methods: ['attention'], generation: {maxNewTokens: 16}, device: 'auto'}});
 * // → {experiment: 'support-faq', total: 40, completed: [...38], skipped: [], failed: [...2], cancelled: false, warnings: []}
 */
export async function runBatch(items: readonly DatasetItem[], options: BatchOptions): Promise<QueueResult> {
  const modelPath = resolve(options.settings.modelPath ?? (await ensureDemoModel(options.demoModelDir)));
  const settings: BatchSettings = { ...options.settings, modelPath };
  const finished = finishedItems(options.store, options.experiment, modelPath);
  const skipped: QueueItemResult[] = [];
  const warnings: string[] = [];
  const jobs: QueueJob[] = [];
  for (const item of items) {
    const runId = finished.get(item.key);
    if (runId === undefined) {
      jobs.push({
        key: item.key,
        line: item.line,
        request: itemRequest(item, settings, options.experiment),
        spans: () => itemSpans(item),
        claim: { experiment: options.experiment, modelPath, tag: itemTag(item.key) },
      });
      continue;
    }
    skipped.push({ key: item.key, runId });
    // An interruption between storing the run and storing its segments leaves them out: add them now.
    if (item.spans.length > 0 && !hasMarkedSegments(options.store, runId)) {
      warnings.push(...storeMarkedSegments(options.store, options.store.getRun(runId)!, itemSpans(item), item.key));
    }
  }
  const result = await runQueue(jobs, skipped, options.experiment, options, options.onProgress);
  result.warnings.unshift(...warnings);
  return result;
}

export interface RerunOptions extends WorkbenchContext, RerunSettings {
  /** Target experiment; default `<source experiment>@<model name>`. */
  to?: string;
  onProgress?: (progress: QueueProgress) => void;
}

/**
 * Re-runs stored runs on `options.modelPath`. Runs that are not done are reported as failures (nothing to
 * re-run); unknown ids throw.
 *
 * @example await rerunRuns(['r_0mihqfr40abc123'], {store, cacheDir, demoModelDir, modelPath: '/models/other'})
 * // → {experiment: 'default@other', completed: [{key: 'r_0mihqfr40abc123', runId: 'r_…'}], …}
 */
export async function rerunRuns(sourceIds: readonly string[], options: RerunOptions): Promise<QueueResult> {
  const sources = sourceIds.map((id) => {
    const run = options.store.getRun(id);
    if (!run) throw Object.assign(new Error(`no run with id ${id}`), { code: 'not_found' });
    return run;
  });
  const modelPath = resolve(options.modelPath);
  const modelName = (await inspectModelFolder(modelPath)).name;
  const experimentOf = (source: RunJson) => options.to ?? rerunExperimentName(source.experiment, modelName);
  const skipped: QueueItemResult[] = [];
  const jobs: QueueJob[] = [];
  const notDone: QueueResult['failed'] = [];
  for (const source of sources) {
    if (source.status !== 'done') {
      notDone.push({ key: source.id, error: `run ${source.id} is ${source.status}; only finished runs can be re-run` });
      continue;
    }
    const experiment = experimentOf(source);
    const earlier = earlierRerun(options.store, source.id, experiment, modelPath);
    if (earlier) {
      skipped.push({ key: source.id, runId: earlier.id });
      continue;
    }
    const spans = markedSpansOfRun(options.store, source);
    jobs.push({ key: source.id, request: rerunRequest(source, { ...options, modelPath }, experiment), spans: () => spans });
  }
  const experiments = [...new Set(sources.map(experimentOf))];
  const result = await runQueue(jobs, skipped, experiments.join(', '), options, options.onProgress);
  result.failed.unshift(...notDone);
  result.total += notDone.length;
  return result;
}

/**
 * Re-runs every finished run of an experiment (in run order) into `options.to`, default
 * `<name>@<model name>`.
 */
export async function rerunExperiment(name: string, options: RerunOptions): Promise<QueueResult> {
  const ids = options.store.runsOfExperiment(name).filter((run) => run.status === 'done').map((run) => run.id);
  if (ids.length === 0) throw Object.assign(new Error(`experiment ${name} has no finished runs`), { code: 'not_found' });
  return rerunRuns(ids, options);
}
