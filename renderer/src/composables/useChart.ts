// The one owner of an ECharts instance: creates it when the element mounts, applies each new option,
// resizes it with its element, forwards clicks, and disposes it (and its observer) on unmount.
import { onBeforeUnmount, onMounted, shallowRef, watch, type Ref } from 'vue';
import { init, type ChartOption, type ECharts } from '../charts/echarts';

export interface ChartClick {
  /** The clicked cell's value array, e.g. `[col, row, value]` for a heatmap. */
  value: unknown;
  dataIndex: number;
}

/**
 * Binds a chart to an element ref. The option ref is watched; each change replaces the whole option
 * (notMerge), so builders stay pure and no stale series linger.
 * Example: `useChart(element, computed(() => buildHeatmapOption(data, settings)), {onClick})`.
 */
export function useChart(element: Ref<HTMLElement | null>, option: Ref<ChartOption | null>, handlers: { onClick?: (click: ChartClick) => void } = {}) {
  const chart = shallowRef<ECharts | null>(null);
  let observer: ResizeObserver | null = null;

  onMounted(() => {
    if (!element.value) return;
    const instance = init(element.value, null, { renderer: 'canvas' });
    chart.value = instance;
    if (option.value) instance.setOption(option.value, { notMerge: true });
    instance.on('click', (params) => handlers.onClick?.({ value: params.value, dataIndex: params.dataIndex }));
    if (typeof ResizeObserver !== 'undefined') {
      observer = new ResizeObserver(() => instance.resize());
      observer.observe(element.value);
    }
  });

  watch(option, (next) => {
    if (chart.value && next) chart.value.setOption(next, { notMerge: true });
  });

  onBeforeUnmount(() => {
    observer?.disconnect();
    observer = null;
    chart.value?.dispose();
    chart.value = null;
  });

  return { chart };
}
