// Pure option builders of the experiment and compare views: (data, settings) → ECharts option, no DOM, unit-
// tested. The layer × head grid of a per-head statistic, attribution share per prompt segment per method
// (grouped bars), and a metric across an experiment's runs in run order (one line per model).
import type { ColorScale } from '../../../shared/color-scale';
import { displayedRange, finiteRange } from '../../../shared/color-scale';
import {
  ATTRIBUTION_METHODS,
  TIMELINE_METRICS,
  type AttributionMethod,
  type ExperimentAggregate,
  type HeadStatistic,
  type MeanCell,
  type TimelineSeries,
} from '../../../shared/experiment-math';
import { ATTRIBUTION_CATALOG } from '../../../shared/method-catalog';
import type { ExperimentChartOption } from './experiment-charts';
import { escapeHtml, hiddenVisualMap } from './heatmap-option';

/**
 * Categorical colours that stay apart for the common colour-vision deficiencies (Okabe & Ito 2008), in the
 * order series take them.
 */
export const CATEGORY_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'] as const;

/** Labels of the attribution methods (the catalog's short labels). */
export const ATTRIBUTION_LABELS: Readonly<Record<AttributionMethod, string>> = Object.freeze(
  Object.fromEntries(ATTRIBUTION_CATALOG.map((entry) => [entry.id, entry.shortLabel])) as Record<AttributionMethod, string>,
);

/** Labels of the per-head statistics; "segment" is completed with the segment's name. */
export const HEAD_STATISTIC_LABELS: Readonly<Record<HeadStatistic, string>> = Object.freeze({
  segment: 'Attention to segment',
  entropy: 'Attention entropy (nats)',
  firstToken: 'First-token share',
  previousToken: 'Previous-token share',
  maxWeight: 'Largest weight',
});

/** Labels of the timeline metrics that are not segment shares. */
export const TIMELINE_LABELS: Readonly<Record<(typeof TIMELINE_METRICS)[number], string>> = Object.freeze({
  answerLogProb: 'Answer log-probability',
  meanEntropy: 'Mean attention entropy',
  igCompletenessError: 'IG completeness error',
  answerTokens: 'Answer length (tokens)',
  answerChanged: 'Answer changed (1 = yes)',
  assistantAcceptance: 'Assistant drafts accepted (share)',
});

/** Formats a number for labels and tooltips: 3–4 significant digits, exponent for tiny and huge values. */
export function formatNumber(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

/** Share in 0…1 as a percentage with one decimal. */
export function formatShare(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : `${(value * 100).toFixed(1)}%`;
}

export interface HeadGridSettings {
  scale: ColorScale;
  /** What the cells hold, e.g. "Attention to data". */
  label: string;
  /** Colour range; default the finite range of the means. */
  range?: [number, number];
  /** The selected cell, drawn with a frame. */
  selected?: { layer: number; head: number };
}

/**
 * The layer × head heatmap of a per-head statistic averaged over runs. Cells are `[head, layer, mean,
 * runCount]`; cells no run has a value for are not drawn.
 * @example buildHeadGridOption([[{mean: 0.5, runIds: ['a']}]], {scale: CIVIDIS, label: 'Entropy'}).series[0].data // [[0, 0, 0.5, 1]]
 */
export function buildHeadGridOption(grid: readonly (readonly MeanCell[])[], settings: HeadGridSettings): ExperimentChartOption {
  const layers = grid.length;
  const heads = Math.max(0, ...grid.map((row) => row.length));
  const cells: [number, number, number, number][] = [];
  grid.forEach((row, layer) =>
    row.forEach((cell, head) => {
      if (cell.mean !== null && Number.isFinite(cell.mean)) cells.push([head, layer, cell.mean, cell.runIds.length]);
    }),
  );
  const [low, high] = displayedRange(settings.scale, ...(settings.range ?? finiteRange(cells.map((cell) => cell[2]))));
  const selected = settings.selected;
  return {
    animation: false,
    aria: { enabled: true, label: { description: `${settings.label}: ${layers} layers by ${heads} heads, averaged over runs.` } },
    grid: { left: 44, right: 12, top: 8, bottom: 34 },
    tooltip: {
      trigger: 'item',
      confine: true,
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const value = (params as { value?: [number, number, number, number] }).value;
        if (!value) return '';
        const [head, layer, mean, runs] = value;
        return `Layer ${layer}, head ${head}<br/>${escapeHtml(settings.label)}: <b>${formatNumber(mean, 4)}</b><br/>${runs} run${runs === 1 ? '' : 's'} — click to list them`;
      },
    },
    xAxis: {
      type: 'category',
      data: Array.from({ length: heads }, (_, head) => String(head)),
      name: 'head',
      nameLocation: 'middle',
      nameGap: 22,
      axisTick: { show: false },
      splitArea: { show: false },
      axisLabel: { fontSize: 11, color: '#3d4350' },
    },
    yAxis: {
      type: 'category',
      data: Array.from({ length: layers }, (_, layer) => String(layer)),
      inverse: true,
      name: 'layer',
      nameLocation: 'middle',
      nameGap: 30,
      axisTick: { show: false },
      axisLabel: { fontSize: 11, color: '#3d4350' },
    },
    visualMap: hiddenVisualMap(low, high, settings.scale),
    series: [
      {
        type: 'heatmap',
        data: cells.map((cell) =>
          selected && cell[0] === selected.head && cell[1] === selected.layer
            ? { value: cell, itemStyle: { borderColor: '#d62728', borderWidth: 3 } }
            : cell,
        ),
        emphasis: { itemStyle: { borderColor: '#111827', borderWidth: 1 } },
        progressive: 0,
      },
    ],
  };
}

/** One cell of the grid with its position, for the keyboard list of strongest heads. */
export interface RankedCell {
  layer: number;
  head: number;
  mean: number;
  runIds: string[];
}

/**
 * The `count` cells with the largest means (ties: lower layer, then head, first).
 * @example rankedCells([[{mean: 1, runIds: []}, {mean: 3, runIds: ['a']}]], 1) // [{layer: 0, head: 1, mean: 3, runIds: ['a']}]
 */
export function rankedCells(grid: readonly (readonly MeanCell[])[], count: number): RankedCell[] {
  const cells: RankedCell[] = [];
  grid.forEach((row, layer) =>
    row.forEach((cell, head) => {
      if (cell.mean !== null && Number.isFinite(cell.mean)) cells.push({ layer, head, mean: cell.mean, runIds: cell.runIds });
    }),
  );
  return cells.sort((a, b) => b.mean - a.mean || a.layer - b.layer || a.head - b.head).slice(0, Math.max(0, count));
}

/**
 * Grouped bars: one group per prompt segment, one bar per method, height = mean share of the method's prompt
 * attribution falling on the segment (0…1, shown as %). Segments no run of a method has are left out of
 * that method's series (null).
 * @example buildSegmentShareOption({saliency: {data: {mean: 0.4, runIds: ['a'], perRun: []}}}, ['data']).series[0].data // [0.4]
 */
export function buildSegmentShareOption(
  shares: ExperimentAggregate['segmentShares'],
  segments: readonly string[],
  options: { description?: string } = {},
): ExperimentChartOption {
  const methods = ATTRIBUTION_METHODS.filter((method) => shares[method]);
  return {
    animation: false,
    aria: { enabled: true, label: { description: options.description ?? `Attribution share per prompt segment for ${methods.length} methods.` } },
    color: [...CATEGORY_COLORS],
    legend: { top: 0, type: 'scroll', textStyle: { fontSize: 12 } },
    grid: { left: 52, right: 12, top: 34, bottom: 28 },
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      confine: true,
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const list = params as { seriesName: string; value: number | null; axisValue: string; marker: string }[];
        if (!list.length) return '';
        return `<b>${escapeHtml(list[0].axisValue)}</b><br/>${list.map((entry) => `${entry.marker}${escapeHtml(entry.seriesName)}: ${formatShare(entry.value)}`).join('<br/>')}`;
      },
    },
    xAxis: { type: 'category', data: [...segments], axisTick: { show: false }, axisLabel: { fontSize: 12, color: '#3d4350' } },
    yAxis: { type: 'value', min: 0, max: 1, axisLabel: { formatter: (value: number) => `${Math.round(value * 100)}%`, fontSize: 11 } },
    series: methods.map((method) => ({
      type: 'bar' as const,
      name: ATTRIBUTION_LABELS[method],
      data: segments.map((segment) => shares[method]![segment]?.mean ?? null),
      barMaxWidth: 26,
    })),
  };
}

/** The metrics a timeline offers for an experiment: the fixed ones, then `share:<method>:<segment>`. */
export function timelineMetrics(aggregate: Pick<ExperimentAggregate, 'segmentShares' | 'segments'> | null): { value: string; label: string }[] {
  const metrics: { value: string; label: string }[] = TIMELINE_METRICS.map((metric) => ({ value: metric, label: TIMELINE_LABELS[metric] }));
  if (!aggregate) return metrics;
  for (const method of ATTRIBUTION_METHODS) {
    if (!aggregate.segmentShares[method]) continue;
    for (const segment of aggregate.segments) {
      metrics.push({ value: `share:${method}:${segment}`, label: `Share of ${segment} — ${ATTRIBUTION_LABELS[method]}` });
    }
  }
  return metrics;
}

/**
 * A metric across the runs of an experiment in run order: x = run number (1…n), one line per model so reruns
 * on another model stand apart; runs without a value leave a gap.
 * @example buildTimelineOption({experiment: 'e', metric: 'm', points: [{runId: 'a', createdAt: 't', modelName: 'x', value: 2}]}, 'M').series[0].data // [2]
 */
export function buildTimelineOption(series: TimelineSeries, label: string): ExperimentChartOption {
  const models = [...new Set(series.points.map((point) => point.modelName))];
  return {
    animation: false,
    aria: { enabled: true, label: { description: `${label} over ${series.points.length} runs of ${series.experiment}, in run order.` } },
    color: [...CATEGORY_COLORS],
    legend: { top: 0, type: 'scroll', textStyle: { fontSize: 12 } },
    grid: { left: 56, right: 16, top: 34, bottom: 36 },
    tooltip: {
      trigger: 'item',
      confine: true,
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const index = (params as { dataIndex: number }).dataIndex;
        const point = series.points[index];
        if (!point) return '';
        return `Run ${index + 1}: <b>${escapeHtml(point.modelName)}</b><br/>${escapeHtml(new Date(point.createdAt).toLocaleString())}<br/>${escapeHtml(label)}: <b>${formatNumber(point.value, 4)}</b>`;
      },
    },
    xAxis: {
      type: 'category',
      data: series.points.map((_, index) => String(index + 1)),
      name: 'run (in run order)',
      nameLocation: 'middle',
      nameGap: 24,
      axisLabel: { fontSize: 11 },
    },
    yAxis: { type: 'value', scale: true, name: label, nameTextStyle: { opacity: 0 }, axisLabel: { fontSize: 11, formatter: (value: number) => formatNumber(value) } },
    series: models.map((model) => ({
      type: 'line' as const,
      name: model,
      data: series.points.map((point) => (point.modelName === model ? point.value : null)),
      connectNulls: true,
      symbol: 'circle',
      symbolSize: 8,
    })),
  };
}
