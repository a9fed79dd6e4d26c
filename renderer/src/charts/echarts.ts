// ECharts, imported piecemeal: only the heatmap chart and the components it needs, with both renderers
// (canvas in the app, fast on large matrices; SVG for server-side rendering in tests and static exports).
import { use, init } from 'echarts/core';
import type { ComposeOption, ECharts } from 'echarts/core';
import { HeatmapChart } from 'echarts/charts';
import type { HeatmapSeriesOption } from 'echarts/charts';
import { AriaComponent, DataZoomComponent, GridComponent, TooltipComponent, VisualMapContinuousComponent } from 'echarts/components';
import type {
  AriaComponentOption,
  DataZoomComponentOption,
  GridComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components';
import { CanvasRenderer, SVGRenderer } from 'echarts/renderers';

use([HeatmapChart, GridComponent, TooltipComponent, VisualMapContinuousComponent, DataZoomComponent, AriaComponent, CanvasRenderer, SVGRenderer]);

/** The option type of the charts this app draws. */
export type ChartOption = ComposeOption<
  HeatmapSeriesOption | GridComponentOption | TooltipComponentOption | VisualMapComponentOption | DataZoomComponentOption | AriaComponentOption
>;

export { init };
export type { ECharts };
