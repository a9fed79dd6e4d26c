// Aggregation across the finished runs of an experiment, read from the store: the layer × head grid of
// per-head statistics (with the runs behind each cell), each method's attribution share per prompt segment,
// and the token texts that receive the most attribution overall. Encoder-decoder runs take part through their
// source (segments, shares and top tokens over the source tokens) and their cross-attention heads.
import { rankByAopc } from '../../shared/faithfulness-math';
import {
  ATTRIBUTION_METHODS,
  headAttentionTo,
  meanGrid,
  meanOver,
  pooledAcceptance,
  segmentPositions,
  segmentShares,
  topTokensOverall,
  type AttributionMethod,
  type ExperimentAggregate,
  type HeadStatistic,
  type PromptSegment,
  type SegmentShareCell,
} from '../../shared/experiment-math';
import type { RunJson } from '../../shared/run';
import { promptWordMass } from '../../shared/word-view';
import type { RunReader } from '../store/run-reader';
import { answerRowFilter, promptAttention, promptMass, runSegments } from './attributions';
import { promptSide } from '../../shared/source-values';
import { ITEM_TAG_PREFIX } from './dataset';

export interface AggregateOptions {
  /** Segment whose received attention the "segment" head statistic measures; default "data" when any run
   * has it, else "system", else the first segment found. */
  segment?: string;
  /** Only runs of this model (name or folder path). */
  model?: string;
  /** Token texts per method (default 20). */
  topTokens?: number;
  /** Methods to aggregate (default: all of ATTRIBUTION_METHODS that some run has). */
  methods?: readonly AttributionMethod[];
}

const HEAD_STATS_FIELDS: Exclude<HeadStatistic, 'segment'>[] = ['entropy', 'firstToken', 'previousToken', 'maxWeight'];

/**
 * The finished runs of an experiment, optionally of one model, in run order, one per dataset item: when an item
 * (tag `item:<key>`) has several done runs on one model folder — two batches that raced before items were
 * claimed, or an item explained again by hand — only the newest counts. Runs without an item tag all count.
 */
export function finishedRuns(reader: RunReader, experiment: string, model?: string): RunJson[] {
  const runs = reader
    .runsOfExperiment(experiment)
    .filter((run) => run.status === 'done' && (model === undefined || run.model.name === model || run.model.path === model));
  const newest = new Map<string, RunJson>();
  for (const run of runs) {
    const key = itemKey(run);
    const kept = key === undefined ? undefined : newest.get(key);
    if (key !== undefined && (!kept || kept.createdAt <= run.createdAt)) newest.set(key, run);
  }
  return runs.filter((run) => {
    const key = itemKey(run);
    return key === undefined || newest.get(key) === run;
  });
}

function itemKey(run: RunJson): string | undefined {
  const tag = run.tags.find((t) => t.startsWith(ITEM_TAG_PREFIX));
  return tag === undefined ? undefined : `${run.model.path}\u0000${tag}`;
}

/**
 * Aggregates an experiment. Numbers are means over the runs that have the data (a run without gradients adds
 * nothing to gradient shares); every cell lists those runs.
 *
 * @example aggregateExperiment(store, 'support-faq', {segment: 'data'}).heads.segment[0][1]
 * // → {mean: 0.31, runIds: ['r_…', 'r_…']}: layer 0, head 1 gives 31% of its answer-row attention to the data
 */
export function aggregateExperiment(reader: RunReader, experiment: string, options: AggregateOptions = {}): ExperimentAggregate {
  const runs = finishedRuns(reader, experiment, options.model);
  const segmentsByRun = new Map(runs.map((run) => [run.id, runSegments(reader, run)]));
  const segmentNames = [...new Set([...segmentsByRun.values()].flatMap((segments) => segments.map((s) => s.name)))];
  const headSegment = options.segment ?? ['data', 'system'].find((name) => segmentNames.includes(name)) ?? segmentNames[0];

  const models = new Map<string, { name: string; path: string; runIds: string[] }>();
  for (const run of runs) {
    const key = `${run.model.path}\u0000${run.model.sha256}`;
    const entry = models.get(key) ?? { name: run.model.name, path: run.model.path, runIds: [] };
    entry.runIds.push(run.id);
    models.set(key, entry);
  }

  const heads: ExperimentAggregate['heads'] = {};
  // Heads that read the prompt: an encoder-decoder run's cross-attention (promptAttention).
  const withStats = runs.flatMap((run) => {
    const headStats = promptAttention(run).headStats;
    return headStats ? [{ run, headStats }] : [];
  });
  for (const field of HEAD_STATS_FIELDS) {
    if (withStats.length === 0) break;
    heads[field] = meanGrid(withStats.map(({ run, headStats }) => ({ runId: run.id, grid: headStats[field] })));
  }
  if (headSegment !== undefined) {
    const grids = runs
      .map((run) => ({ runId: run.id, grid: headSegmentGrid(reader, run, segmentsByRun.get(run.id)!.find((s) => s.name === headSegment)) }))
      .filter((entry): entry is { runId: string; grid: number[][] } => entry.grid !== undefined);
    if (grids.length > 0) heads.segment = meanGrid(grids);
  }

  const segmentSharesOut: ExperimentAggregate['segmentShares'] = {};
  const topTokens: ExperimentAggregate['topTokens'] = {};
  const topWords: NonNullable<ExperimentAggregate['topWords']> = {};
  for (const method of options.methods ?? ATTRIBUTION_METHODS) {
    const masses = runs
      .map((run) => ({ run, mass: promptMass(reader, run, method) }))
      .filter((entry): entry is { run: RunJson; mass: Float64Array } => entry.mass !== undefined);
    if (masses.length === 0) continue;
    const cells: Record<string, SegmentShareCell> = {};
    for (const name of segmentNames) {
      const perRun: { runId: string; share: number }[] = [];
      for (const { run, mass } of masses) {
        const segment = segmentsByRun.get(run.id)!.find((s) => s.name === name);
        if (segment) perRun.push({ runId: run.id, share: segmentShares(mass, [segment])[name] });
      }
      cells[name] = { ...meanOver(perRun.map((entry) => ({ runId: entry.runId, value: entry.share }))), perRun };
    }
    segmentSharesOut[method] = cells;
    topTokens[method] = topTokensOverall(
      masses.map(({ run, mass }) => ({ runId: run.id, texts: promptSide(run).tokens.text.slice(0, mass.length), mass })),
      options.topTokens ?? 20,
    );
    topWords[method] = topTokensOverall(
      masses.map(({ run, mass }) => {
        const words = promptWordMass(promptSide(run), mass);
        return { runId: run.id, texts: words.texts, mass: words.mass };
      }),
      options.topTokens ?? 20,
    );
  }

  const aggregate: ExperimentAggregate = {
    experiment,
    runIds: runs.map((run) => run.id),
    models: [...models.values()],
    segments: segmentNames,
    heads,
    segmentShares: segmentSharesOut,
    topTokens,
    topWords,
  };
  if (headSegment !== undefined) aggregate.headSegment = headSegment;
  const assistant = pooledAcceptance(
    runs.flatMap((run) => (run.generation.assistant ? [{ runId: run.id, proposed: run.generation.assistant.proposed, accepted: run.generation.assistant.accepted }] : [])),
  );
  if (assistant) aggregate.assistant = assistant;
  const faithfulness = rankByAopc(runs.map((run) => ({ runId: run.id, faithfulness: run.faithfulness })));
  if (faithfulness.length > 0) aggregate.faithfulness = faithfulness;
  return aggregate;
}

/**
 * [layer][head] mean over the answer rows of the attention weight on the segment's positions, read one layer
 * at a time (a whole attention tensor of a large model is hundreds of megabytes). Undefined when the run has
 * no stored attention or no such segment.
 */
export function headSegmentGrid(reader: RunReader, run: RunJson, segment: PromptSegment | undefined): number[][] | undefined {
  if (!segment) return undefined;
  const { tensor } = promptAttention(run);
  const info = reader.tensorInfo(run.id).find((t) => t.name === tensor);
  if (!info) return undefined;
  const [layers, heads, rows, cols] = info.shape;
  const positions = segmentPositions(segment, promptSide(run).promptLength);
  const keep = answerRowFilter(run);
  const grid: number[][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const slice = reader.readTensorSlice(run.id, tensor, [layer])!;
    grid.push(Array.from(headAttentionTo(slice.data, heads, rows, cols, positions, keep)));
  }
  return grid;
}
