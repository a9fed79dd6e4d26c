// The faithfulness chart option (run view) and the AOPC ranking (experiment view): pure functions, checked on
// hand-made curves and rendered to SVG by ECharts itself.
import { describe, expect, it } from 'vitest';
import { init } from 'echarts/core';
import '../../../renderer/src/charts/experiment-charts';
import type { FaithfulnessCurveJson } from '../../../shared/run';
import { rankByAopc } from '../../../shared/faithfulness-math';
import { buildFaithfulnessOption, faithfulnessMethods } from '../../../renderer/src/charts/faithfulness-option';
import { curveFrom } from '../../../main/engine/methods/faithfulness';

const line = (start: number, step: number) => Array.from({ length: 11 }, (_, k) => start + step * k);
const curves: Record<string, FaithfulnessCurveJson> = {
  saliency: curveFrom(line(-2, -0.5), line(-7, 0.5)),
  occlusion: curveFrom(line(-2, -0.6), line(-7, 0.6)),
  random: curveFrom(line(-2, -0.2), line(-7, 0.2)),
};

describe('faithfulness chart', () => {
  it('one line per method, best deletion AOPC first, the random control last and dashed', () => {
    expect(faithfulnessMethods(curves)).toEqual(['occlusion', 'saliency', 'random']);
    const option = buildFaithfulnessOption(curves, 'deletion');
    const series = option.series as { name: string; data: number[]; lineStyle?: { type: string } }[];
    expect(series.map((s) => s.name)).toEqual(['Occlusion', 'Saliency', 'Random order (control)']);
    expect(series[1].data).toEqual(curves.saliency.deletion);
    expect(series[2].lineStyle?.type).toBe('dashed');
    const chart = init(null, null, { renderer: 'svg', ssr: true, width: 480, height: 260 });
    try {
      chart.setOption(buildFaithfulnessOption(curves, 'insertion'));
      const svg = chart.renderToSVGString();
      expect(svg).toContain('Random order (control)');
      expect((svg.match(/<path/g) ?? []).length).toBeGreaterThan(3);
    } finally {
      chart.dispose();
    }
  });

  it('AOPC is the mean gap over the 11 points', () => {
    // deletion falls by 0.5 per step: gaps 0, 0.5, …, 5 → mean 2.5.
    expect(curves.saliency.aopcDeletion).toBeCloseTo(2.5, 12);
    expect(curves.saliency.aopcInsertion).toBeCloseTo(2.5, 12);
  });
});

describe('rankByAopc', () => {
  it('means over the runs that have each method, best first', () => {
    const ranked = rankByAopc([
      { runId: 'a', faithfulness: { saliency: { ...curves.saliency, aopcDeletion: 1, aopcInsertion: 3 }, random: { ...curves.random, aopcDeletion: 0.5, aopcInsertion: 0 } } },
      { runId: 'b', faithfulness: { saliency: { ...curves.saliency, aopcDeletion: 3, aopcInsertion: 1 }, occlusion: { ...curves.occlusion, aopcDeletion: 4, aopcInsertion: 4 } } },
      { runId: 'c' },
    ]);
    expect(ranked.map((r) => [r.method, r.aopcDeletion, r.aopcInsertion, r.runIds])).toEqual([
      ['occlusion', 4, 4, ['b']],
      ['saliency', 2, 2, ['a', 'b']],
      ['random', 0.5, 0, ['a']],
    ]);
  });
});
