// The heatmap option builder, checked as data and by rendering it to SVG with ECharts in plain Node.
import { describe, expect, it } from 'vitest';
import { init } from '../../../renderer/src/charts/echarts';
import { buildHeatmapOption, escapeHtml, heatmapCells, heatmapHeight } from '../../../renderer/src/charts/heatmap-option';
import { thumbnailImage } from '../../../renderer/src/charts/thumbnail';
import { BLUE_ORANGE, CIVIDIS, parseHex, scaleColor } from '../../../shared/color-scale';

type Series = { data: [number, number, number][] };
type Formatter = (params: unknown) => string;

function renderSvg(option: ReturnType<typeof buildHeatmapOption>, width = 480, height = 240): string {
  const chart = init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

describe('heatmap option', () => {
  const data = { values: [[0, 0.5, null], [1, 0.25, 0.75]], rowLabels: [' Mon', '<b>x</b>'], colLabels: ['<s>', ' is', '\n'] };

  it('lists non-null cells as [col, row, value] on position-indexed axes', () => {
    const option = buildHeatmapOption(data, { scale: CIVIDIS });
    expect((option.series as Series[])[0].data).toEqual([[0, 0, 0], [1, 0, 0.5], [0, 1, 1], [1, 1, 0.25], [2, 1, 0.75]]);
    expect((option.xAxis as { data: string[] }).data).toEqual(['0', '1', '2']);
    expect(option.dataZoom).toEqual([]);
    expect(heatmapCells([[null, Number.NaN, 2]])).toEqual([[2, 0, 2]]);
  });

  it('escapes token text in the tooltip (model output may hold markup)', () => {
    const option = buildHeatmapOption(data, { scale: CIVIDIS, rowAxisName: 'answer', colAxisName: 'input' });
    const formatter = (option.tooltip as { formatter: Formatter }).formatter;
    const html = formatter({ value: [0, 1, 0.123456] });
    expect(html).toContain('&#60;b&#62;x&#60;/b&#62;');
    expect(html).toContain('&#60;s&#62;');
    expect(html).not.toContain('<s>');
    expect(html).toContain('0.1235');
    expect(escapeHtml(`"'&`)).toBe('&#34;&#39;&#38;');
  });

  it('uses a symmetric range for signed values and adds zoom sliders on long axes', () => {
    const long = { values: [Array.from({ length: 300 }, (_, index) => (index % 2 ? -index : index / 2))], rowLabels: ['a'], colLabels: Array.from({ length: 300 }, (_, index) => `t${index}`) };
    const option = buildHeatmapOption(long, { scale: BLUE_ORANGE });
    const visualMap = option.visualMap as { min: number; max: number };
    expect(visualMap.min).toBe(-299);
    expect(visualMap.max).toBe(299);
    const zoom = option.dataZoom as { type: string; xAxisIndex?: number; endValue?: number }[];
    expect(zoom.map((entry) => entry.type)).toEqual(['slider', 'inside']);
    expect(zoom[0].endValue).toBe(95);
  });

  it('renders to SVG in Node with the shared scale colours, so heatmap, chips and legend agree', () => {
    const svg = renderSvg(buildHeatmapOption(data, { scale: CIVIDIS, range: [0, 1] }));
    const fills = [...svg.matchAll(/<path d="M[^"]+" fill="rgb\((\d+),(\d+),(\d+)\)" ecmeta_series_index="0" ecmeta_data_index="(\d+)"/g)];
    expect(fills).toHaveLength(5);
    const cells = heatmapCells(data.values);
    for (const fill of fills) {
      const value = cells[Number(fill[4])][2];
      const expected = parseHex(scaleColor(CIVIDIS, value, 0, 1));
      [1, 2, 3].forEach((group, channel) => expect(Math.abs(Number(fill[group]) - expected[channel])).toBeLessThanOrEqual(1));
    }
    // Labels are the token texts with visible whitespace, escaped in the SVG.
    expect(svg).toContain('·Mon');
    expect(svg).toContain('&lt;s&gt;');
  });

  it('renders a long input with a zoom window (hundreds of positions)', () => {
    const cols = 400;
    const values = Array.from({ length: 12 }, (_, row) => Array.from({ length: cols }, (_, col) => (col <= 380 + row ? Math.abs(Math.sin(row * cols + col)) : null)));
    const svg = renderSvg(buildHeatmapOption({ values, rowLabels: values.map((_, row) => `a${row}`), colLabels: Array.from({ length: cols }, (_, col) => `t${col}`) }, { scale: CIVIDIS }), 900, heatmapHeight(12, true));
    const drawn = svg.match(/ecmeta_series_index="0" ecmeta_data_index="\d+"/g) ?? [];
    // Only the first 96 columns are in the initial window.
    expect(drawn.length).toBe(12 * 96);
  });
});

describe('head thumbnail', () => {
  it('averages blocks and colours them with the scale', () => {
    // 2 × 4 matrix into 1 × 2 pixels: block means 0.25 and 0.75.
    const image = thumbnailImage([0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5], 2, 4, { scale: CIVIDIS, range: [0, 1], maxRows: 1, maxCols: 2 });
    expect([image.width, image.height]).toEqual([2, 1]);
    expect([...image.pixels.slice(0, 3)]).toEqual(parseHex(scaleColor(CIVIDIS, 0.25, 0, 1)));
    expect([...image.pixels.slice(4, 7)]).toEqual(parseHex(scaleColor(CIVIDIS, 0.75, 0, 1)));
    expect(image.pixels[3]).toBe(255);
  });

  it('keeps small matrices at one pixel per cell', () => {
    const image = thumbnailImage([0, 1, 1, 0], 2, 2, { scale: CIVIDIS, range: [0, 1] });
    expect([image.width, image.height]).toEqual([2, 2]);
    expect([...image.pixels.slice(4, 7)]).toEqual(parseHex('#fee838'));
  });
});
