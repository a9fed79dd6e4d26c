// Pure option builder of the run view's faithfulness chart (issue 16): deletion or insertion curve, F (the summed
// answer log-probability) against the share of prompt positions removed or inserted, one line per method, the
// random-order control dashed in grey.
import type { FaithfulnessCurveJson } from '../../../shared/run';
import { attributionEntry, attributionId } from '../../../shared/method-catalog';
import type { ExperimentChartOption } from './experiment-charts';
import { CATEGORY_COLORS, formatNumber } from './experiment-options';
import { escapeHtml } from './heatmap-option';

export type FaithfulnessCurve = 'deletion' | 'insertion';

/** Label of a stored faithfulness key: an attribution's label (legacy spellings too), "Random order" for the control, else the id. */
export function faithfulnessLabel(method: string): string {
  if (method === 'random') return 'Random order (control)';
  const id = attributionId(method);
  return id ? attributionEntry(id).label : method;
}

/** Methods in a stable order: best deletion AOPC first, the control last. */
export function faithfulnessMethods(curves: Record<string, FaithfulnessCurveJson>): string[] {
  return Object.keys(curves).sort((a, b) => (a === 'random' ? 1 : b === 'random' ? -1 : curves[b].aopcDeletion - curves[a].aopcDeletion || a.localeCompare(b)));
}

/**
 * Example: `buildFaithfulnessOption({saliency: {deletion: [..11], …}, random: {…}}, 'deletion').series` → two line
 * series named 'Saliency' and 'Random order (control)', 11 points each.
 */
export function buildFaithfulnessOption(curves: Record<string, FaithfulnessCurveJson>, curve: FaithfulnessCurve): ExperimentChartOption {
  const methods = faithfulnessMethods(curves);
  const percents = Array.from({ length: 11 }, (_, k) => `${k * 10}%`);
  const title = curve === 'deletion' ? 'Deletion: top positions replaced by the baseline' : 'Insertion: top positions restored into an all-baseline prompt';
  return {
    animation: false,
    aria: { enabled: true, label: { description: `${title}; summed answer log-probability for ${methods.length} orders.` } },
    color: [...CATEGORY_COLORS],
    // A plain legend wraps onto a second line instead of hiding methods behind paging.
    legend: { top: 0, left: 0, right: 0, type: 'plain', itemGap: 8, textStyle: { fontSize: 11 } },
    grid: { left: 56, right: 16, top: 72, bottom: 40 },
    tooltip: {
      trigger: 'axis',
      confine: true,
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const list = params as { seriesName: string; value: number; axisValue: string }[];
        if (!list.length) return '';
        return `${escapeHtml(list[0].axisValue)} ${curve === 'deletion' ? 'removed' : 'inserted'}<br/>${list.map((p) => `${escapeHtml(p.seriesName)}: <b>${formatNumber(p.value, 4)}</b>`).join('<br/>')}`;
      },
    },
    xAxis: { type: 'category', data: percents, name: curve === 'deletion' ? 'prompt positions removed (by attribution)' : 'prompt positions inserted (by attribution)', nameLocation: 'middle', nameGap: 26, axisLabel: { fontSize: 11 } },
    yAxis: { type: 'value', scale: true, name: 'F = Σ log p', nameLocation: 'middle', nameGap: 40, nameTextStyle: { fontSize: 11 }, axisLabel: { fontSize: 11, formatter: (value: number) => formatNumber(value) } },
    series: methods.map((method) => ({
      type: 'line' as const,
      name: faithfulnessLabel(method),
      data: curves[method][curve],
      symbol: 'circle',
      symbolSize: 6,
      ...(method === 'random' ? { lineStyle: { type: 'dashed' as const, color: '#888' }, itemStyle: { color: '#888' } } : {}),
    })),
  };
}
