// The extra ECharts parts the experiment and compare views draw (bar and line charts, a legend), registered
// once on import, and the option type of those charts. Heatmaps come from ./echarts as before.
import { use } from 'echarts/core';
import type { ComposeOption } from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import type { BarSeriesOption, HeatmapSeriesOption, LineSeriesOption } from 'echarts/charts';
import { LegendComponent } from 'echarts/components';
import type {
  AriaComponentOption,
  GridComponentOption,
  LegendComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components';
import './echarts';

use([BarChart, LineChart, LegendComponent]);

/** Options of the experiment views' charts: heatmap grids, grouped bars, timelines. */
export type ExperimentChartOption = ComposeOption<
  | HeatmapSeriesOption
  | BarSeriesOption
  | LineSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | VisualMapComponentOption
  | LegendComponentOption
  | AriaComponentOption
>;
