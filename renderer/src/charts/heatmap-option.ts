// Pure builder of a heatmap's ECharts option: (matrix, settings) → option. No DOM, so it runs in unit tests
// and in server-side rendering. Category axes are indexed by position (token texts repeat, and ECharts would
// merge equal category names); labels map positions back to token text.
import type { ChartOption } from './echarts';
import { displayedRange, finiteRange, type ColorScale } from '../../../shared/color-scale';
import { displayToken } from '../../../shared/token-values';

/** A matrix with labelled rows and columns; null cells are not drawn (masked or unknown). */
export interface HeatmapData {
  values: (number | null)[][];
  rowLabels: string[];
  colLabels: string[];
}

export interface HeatmapSettings {
  scale: ColorScale;
  /** Colour range; default the data's finite range (made symmetric for diverging scales). */
  range?: [number, number];
  rowAxisName?: string;
  colAxisName?: string;
  /** Row drawn with a bold label (the chosen answer token). */
  highlightRow?: number;
  /** Above this many columns (or rows) the axis gets a zoom slider. Default 48. */
  zoomAbove?: number;
  /** Columns shown at first when the axis zooms. Default 96. */
  initialWindow?: number;
  /** Significant digits in the tooltip. Default 4. */
  digits?: number;
  /** Accessible description of the chart. */
  description?: string;
  /** Tooltip HTML of a cell, replacing the default (row, column, value); the caller escapes its text. */
  cellTooltip?: (row: number, col: number, value: number) => string;
}

const LABEL_LIMIT = 14;

/** Escapes text for the HTML tooltip: token text comes from the model and may hold markup. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function shortLabel(text: string | undefined): string {
  const shown = displayToken(text ?? '');
  return shown.length > LABEL_LIMIT ? `${shown.slice(0, LABEL_LIMIT - 1)}…` : shown;
}

/** The `[col, row, value]` triples ECharts draws, skipping null cells. */
export function heatmapCells(values: (number | null)[][]): [number, number, number][] {
  const cells: [number, number, number][] = [];
  values.forEach((row, rowIndex) =>
    row.forEach((value, colIndex) => {
      if (value !== null && Number.isFinite(value)) cells.push([colIndex, rowIndex, value]);
    }),
  );
  return cells;
}

/**
 * The ECharts option of a heatmap with token axes, a hidden continuous visual map carrying the colour scale
 * (the app draws its own legend from the same scale), a tooltip with token texts and value, and zoom
 * sliders on long axes.
 * @example buildHeatmapOption({values: [[0.2, 0.8]], rowLabels: ['Hi'], colLabels: ['a', 'b']}, {scale: CIVIDIS}).series[0].data
 *   // [[0, 0, 0.2], [1, 0, 0.8]]
 */
export function buildHeatmapOption(data: HeatmapData, settings: HeatmapSettings): ChartOption {
  const rows = data.values.length;
  const cols = Math.max(data.colLabels.length, ...data.values.map((row) => row.length), 0);
  const cells = heatmapCells(data.values);
  const [low, high] = displayedRange(settings.scale, ...(settings.range ?? finiteRange(cells.map((cell) => cell[2]))));
  const zoomAbove = settings.zoomAbove ?? 48;
  const windowSize = settings.initialWindow ?? 96;
  const digits = settings.digits ?? 4;
  const zoomColumns = cols > zoomAbove;
  const zoomRows = rows > zoomAbove;
  const positions = (count: number) => Array.from({ length: count }, (_, index) => String(index));

  const dataZoom: NonNullable<ChartOption['dataZoom']> = [];
  if (zoomColumns) {
    const end = Math.min(cols, windowSize) - 1;
    dataZoom.push(
      { type: 'slider', xAxisIndex: 0, startValue: 0, endValue: end, height: 16, bottom: 6, showDetail: false, brushSelect: false },
      // Wheel zoom only with Ctrl so the page still scrolls; drag moves the window.
      { type: 'inside', xAxisIndex: 0, zoomOnMouseWheel: 'ctrl', moveOnMouseWheel: 'shift', moveOnMouseMove: true },
    );
  }
  if (zoomRows) {
    dataZoom.push(
      { type: 'slider', yAxisIndex: 0, startValue: 0, endValue: Math.min(rows, windowSize) - 1, width: 16, right: 6, showDetail: false, brushSelect: false },
      { type: 'inside', yAxisIndex: 0, zoomOnMouseWheel: 'ctrl', moveOnMouseWheel: false, moveOnMouseMove: true },
    );
  }

  return {
    animation: false,
    aria: { enabled: true, label: { description: settings.description ?? `Heatmap of ${rows} rows by ${cols} columns.` } },
    grid: {
      left: 8,
      right: zoomRows ? 36 : 12,
      top: 8,
      bottom: zoomColumns ? 32 : 8,
      // Axis labels (token texts) are kept inside the chart's box.
      outerBoundsMode: 'same',
      outerBoundsContain: 'axisLabel',
    },
    tooltip: {
      trigger: 'item',
      confine: true,
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const value = (params as { value?: [number, number, number] }).value;
        if (!value) return '';
        const [col, row, cell] = value;
        if (settings.cellTooltip) return settings.cellTooltip(row, col, cell);
        const rowText = escapeHtml(displayToken(data.rowLabels[row] ?? ''));
        const colText = escapeHtml(displayToken(data.colLabels[col] ?? ''));
        return `${escapeHtml(settings.rowAxisName ?? 'row')} ${row}: <b>${rowText}</b><br/>${escapeHtml(settings.colAxisName ?? 'column')} ${col}: <b>${colText}</b><br/>${Number(cell.toPrecision(digits))}`;
      },
    },
    xAxis: {
      type: 'category',
      data: positions(cols),
      name: settings.colAxisName,
      nameLocation: 'middle',
      nameGap: 0,
      nameTextStyle: { opacity: 0 },
      axisTick: { show: false },
      axisLine: { show: false },
      splitArea: { show: false },
      axisLabel: { rotate: 60, fontSize: 11, color: '#3d4350', formatter: (value: string) => shortLabel(data.colLabels[Number(value)]) },
    },
    yAxis: {
      type: 'category',
      data: positions(rows),
      inverse: true,
      name: settings.rowAxisName,
      nameTextStyle: { opacity: 0 },
      axisTick: { show: false },
      axisLine: { show: false },
      axisLabel: {
        fontSize: 11,
        color: '#3d4350',
        formatter: (value: string) => {
          const index = Number(value);
          const label = shortLabel(data.rowLabels[index]);
          return index === settings.highlightRow ? `{selected|▶ ${label}}` : label;
        },
        rich: { selected: { fontWeight: 'bold', color: '#0b57d0', fontSize: 11 } },
      },
    },
    visualMap: hiddenVisualMap(low, high, settings.scale),
    dataZoom,
    series: [
      {
        type: 'heatmap',
        data: cells,
        emphasis: { itemStyle: { borderColor: '#111827', borderWidth: 1 } },
        progressive: 0,
      },
    ],
  };
}

/** Height in pixels that fits a heatmap of `rows` rows with readable cells, within sensible bounds. */
/** The colour mapping of a heatmap's cells (the legend is drawn by our own ColorLegend, so ECharts' is hidden). */
export function hiddenVisualMap(low: number, high: number, scale: ColorScale) {
  return {
    type: 'continuous' as const,
    show: false,
    dimension: 2,
    min: low,
    max: high > low ? high : low + 1,
    inRange: { color: [...scale.stops] },
  };
}

export function heatmapHeight(rows: number, longColumns: boolean): number {
  const cellHeight = rows > 40 ? 14 : 22;
  return Math.round(Math.min(640, Math.max(140, rows * cellHeight + 90 + (longColumns ? 24 : 0))));
}
