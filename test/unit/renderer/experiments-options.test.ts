// The experiment views' pure option builders: cells, colour range, selection frame, ranking, grouped bars,
// timeline series per model, metric list, escaping of model and user text in tooltips.
import { describe, expect, it } from 'vitest';
import { CIVIDIS } from '../../../shared/color-scale';
import type { MeanCell, TimelineSeries } from '../../../shared/experiment-math';
import {
  buildHeadGridOption,
  buildSegmentShareOption,
  buildTimelineOption,
  formatNumber,
  formatShare,
  rankedCells,
  timelineMetrics,
} from '../../../renderer/src/charts/experiment-options';

const cell = (mean: number | null, runIds: string[] = ['a']): MeanCell => ({ mean, runIds });
const grid: MeanCell[][] = [
  [cell(0.1), cell(0.9, ['a', 'b'])],
  [cell(null, []), cell(0.5)],
];

type Series = { data: unknown[]; name?: string; type: string }[];

describe('buildHeadGridOption', () => {
  it('draws [head, layer, mean, runs] cells, skips empty ones, frames the selected one', () => {
    const option = buildHeadGridOption(grid, { scale: CIVIDIS, label: 'Entropy', selected: { layer: 1, head: 1 } });
    const data = (option.series as Series)[0].data;
    expect(data).toEqual([[0, 0, 0.1, 1], [1, 0, 0.9, 2], { value: [1, 1, 0.5, 1], itemStyle: { borderColor: '#d62728', borderWidth: 3 } }]);
    expect(option.visualMap).toMatchObject({ min: 0.1, max: 0.9, dimension: 2 });
    expect((option.xAxis as { data: string[] }).data).toEqual(['0', '1']);
    expect((option.yAxis as { data: string[] }).data).toEqual(['0', '1']);
  });

  it('uses a given range and escapes the label in the tooltip', () => {
    const option = buildHeadGridOption(grid, { scale: CIVIDIS, label: '<b>x</b>', range: [0, 2] });
    expect(option.visualMap).toMatchObject({ min: 0, max: 2 });
    const formatter = (option.tooltip as { formatter: (p: unknown) => string }).formatter;
    const html = formatter({ value: [1, 0, 0.9, 2] });
    expect(html).toContain('Layer 0, head 1');
    expect(html).toContain('&#60;b&#62;x&#60;/b&#62;');
    expect(html).toContain('2 runs');
  });
});

describe('rankedCells', () => {
  it('orders cells by mean, largest first, without empty cells', () => {
    expect(rankedCells(grid, 2)).toEqual([
      { layer: 0, head: 1, mean: 0.9, runIds: ['a', 'b'] },
      { layer: 1, head: 1, mean: 0.5, runIds: ['a'] },
    ]);
  });
});

describe('buildSegmentShareOption', () => {
  it('makes one bar series per method in ATTRIBUTION_METHODS order, one bar per segment', () => {
    const option = buildSegmentShareOption(
      {
        'attention.mean': { data: { mean: 0.2, runIds: ['a'], perRun: [] } },
        saliency: { data: { mean: 0.4, runIds: ['a'], perRun: [] }, system: { mean: 0.1, runIds: ['a'], perRun: [] } },
      },
      ['system', 'data'],
    );
    const series = option.series as Series;
    expect(series.map((entry) => entry.name)).toEqual(['Saliency', 'Attention (mean)']);
    expect(series[0].data).toEqual([0.1, 0.4]);
    expect(series[1].data).toEqual([null, 0.2]);
    expect((option.xAxis as { data: string[] }).data).toEqual(['system', 'data']);
  });
});

describe('buildTimelineOption', () => {
  it('splits points by model along the run order and escapes model names', () => {
    const series: TimelineSeries = {
      experiment: 'e',
      metric: 'meanEntropy',
      points: [
        { runId: 'a', createdAt: '2026-01-01T00:00:00Z', modelName: 'llama', value: 1 },
        { runId: 'b', createdAt: '2026-01-02T00:00:00Z', modelName: '<gpt2>', value: 2 },
        { runId: 'c', createdAt: '2026-01-03T00:00:00Z', modelName: 'llama', value: null },
      ],
    };
    const option = buildTimelineOption(series, 'Entropy');
    const lines = option.series as Series;
    expect(lines.map((line) => [line.name, line.data])).toEqual([
      ['llama', [1, null, null]],
      ['<gpt2>', [null, 2, null]],
    ]);
    expect((option.xAxis as { data: string[] }).data).toEqual(['1', '2', '3']);
    const html = (option.tooltip as { formatter: (p: unknown) => string }).formatter({ dataIndex: 1 });
    expect(html).toContain('&#60;gpt2&#62;');
    expect(html).toContain('Run 2');
  });
});

describe('timelineMetrics and formatting', () => {
  it('adds a share metric per method and segment', () => {
    const metrics = timelineMetrics({ segments: ['data'], segmentShares: { saliency: { data: { mean: 1, runIds: [], perRun: [] } } } });
    expect(metrics.map((entry) => entry.value)).toEqual(['answerLogProb', 'meanEntropy', 'igCompletenessError', 'answerTokens', 'answerChanged', 'assistantAcceptance', 'share:saliency:data']);
  });

  it('formats numbers and shares', () => {
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(0.00001234)).toBe('1.23e-5');
    expect(formatNumber(null)).toBe('—');
    expect(formatShare(0.4567)).toBe('45.7%');
  });
});
