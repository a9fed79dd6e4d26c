// Colour scales: exact endpoints, monotonic lightness, the diverging centre, legends, and a colour-vision
// check that simulates dichromacy independently (Viénot, Brettel & Mollon 1999) and requires the scale to
// stay ordered in lightness and its two diverging arms to stay apart.
import { describe, expect, it } from 'vitest';
import {
  BLUE_ORANGE,
  CIVIDIS,
  colorAt,
  divergingColor,
  finiteRange,
  legendStops,
  parseHex,
  readableTextColor,
  relativeLuminance,
  scaleColor,
  scalePosition,
  sequentialColor,
} from '../../../shared/color-scale';

function toLinear(channel: number): number {
  const value = channel / 255;
  return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
}

/** Dichromat simulation in linear RGB (Viénot et al. 1999 matrices). */
const SIMULATIONS: Record<string, number[][]> = {
  protanopia: [
    [0.11238, 0.88762, 0.0],
    [0.11238, 0.88762, 0.0],
    [0.00401, -0.00401, 1.0],
  ],
  deuteranopia: [
    [0.29275, 0.70725, 0.0],
    [0.29275, 0.70725, 0.0],
    [-0.02234, 0.02234, 1.0],
  ],
};

function simulate(hex: string, matrix: number[][]): [number, number, number] {
  const linear = parseHex(hex).map(toLinear);
  return matrix.map((row) => row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2]) as [number, number, number];
}

const luminanceOfLinear = (rgb: number[]) => 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
const samples = (count: number) => Array.from({ length: count }, (_, index) => index / (count - 1));

describe('colour scales', () => {
  it('maps the ends of the range to the first and last stops', () => {
    expect(sequentialColor(0, 0, 1)).toBe('#00224e');
    expect(sequentialColor(1, 0, 1)).toBe('#fee838');
    expect(sequentialColor(5, 0, 1)).toBe('#fee838');
    expect(sequentialColor(-5, 0, 1)).toBe('#00224e');
    expect(divergingColor(-2, -2, 1)).toBe('#053061');
    expect(divergingColor(2, -1, 2)).toBe('#7f3b08');
  });

  it('interpolates between stops channel by channel', () => {
    // Halfway between the first two cividis stops #00224e and #123570.
    expect(colorAt(CIVIDIS, 0.0625)).toBe('#092c5f');
  });

  it('centres diverging scales on zero with a symmetric half-width', () => {
    expect(divergingColor(0, -3, 1)).toBe('#f4f4f2');
    expect(scalePosition(BLUE_ORANGE, -1, -2, 1)).toBeCloseTo(0.25);
    expect(scalePosition(BLUE_ORANGE, 1, -2, 1)).toBeCloseTo(0.75);
    expect(scalePosition(BLUE_ORANGE, 0, 0, 0)).toBe(0.5);
    expect(scalePosition(CIVIDIS, 3, 3, 3)).toBe(0);
    expect(scalePosition(CIVIDIS, Number.NaN, 0, 1)).toBe(0);
  });

  it('cividis gets lighter from low to high, also for protanopes and deuteranopes', () => {
    const colors = samples(33).map((t) => colorAt(CIVIDIS, t));
    const normal = colors.map(relativeLuminance);
    for (let index = 1; index < normal.length; index++) expect(normal[index]).toBeGreaterThan(normal[index - 1]);
    for (const matrix of Object.values(SIMULATIONS)) {
      const seen = colors.map((color) => luminanceOfLinear(simulate(color, matrix)));
      for (let index = 1; index < seen.length; index++) expect(seen[index]).toBeGreaterThan(seen[index - 1]);
    }
  });

  it('blue–orange is lightest at zero, darkens outwards, and its arms stay apart for dichromats', () => {
    const lightness = samples(33).map((t) => relativeLuminance(colorAt(BLUE_ORANGE, t)));
    const centre = 16;
    for (let index = 1; index <= centre; index++) expect(lightness[index]).toBeGreaterThan(lightness[index - 1]);
    for (let index = centre + 1; index < lightness.length; index++) expect(lightness[index]).toBeLessThan(lightness[index - 1]);
    for (const matrix of Object.values(SIMULATIONS)) {
      // Equal magnitudes on the two sides must still differ in hue (blue channel vs red/green), not only in sign.
      for (const t of [0.1, 0.2, 0.3, 0.4]) {
        const negative = simulate(colorAt(BLUE_ORANGE, 0.5 - t), matrix);
        const positive = simulate(colorAt(BLUE_ORANGE, 0.5 + t), matrix);
        const blueness = (rgb: number[]) => rgb[2] - (rgb[0] + rgb[1]) / 2;
        expect(blueness(negative)).toBeGreaterThan(0);
        expect(blueness(positive)).toBeLessThan(0);
      }
    }
  });

  it('gives legend stops that cover the displayed range', () => {
    expect(legendStops(CIVIDIS, 0, 1, 3)).toEqual([
      { value: 0, color: '#00224e' },
      { value: 0.5, color: colorAt(CIVIDIS, 0.5) },
      { value: 1, color: '#fee838' },
    ]);
    const diverging = legendStops(BLUE_ORANGE, -0.5, 2, 5);
    expect(diverging.map((stop) => stop.value)).toEqual([-2, -1, 0, 1, 2]);
    expect(diverging[2].color).toBe('#f4f4f2');
    expect(scaleColor(BLUE_ORANGE, 1, -0.5, 2)).toBe(diverging[3].color);
  });

  it('chooses readable text colours with enough contrast', () => {
    expect(readableTextColor('#00224e')).toBe('#ffffff');
    expect(readableTextColor('#fee838')).toBe('#000000');
    expect(readableTextColor('#f4f4f2')).toBe('#000000');
    for (const t of samples(21)) {
      const background = colorAt(CIVIDIS, t);
      const text = readableTextColor(background);
      const [light, dark] = [relativeLuminance(background), relativeLuminance(text)].sort((a, b) => b - a);
      expect((light + 0.05) / (dark + 0.05)).toBeGreaterThanOrEqual(4.5);
    }
  });

  it('finds the finite range and ignores gaps', () => {
    expect(finiteRange([3, null, -1, Number.NaN, undefined, 2])).toEqual([-1, 3]);
    expect(finiteRange([])).toEqual([0, 0]);
  });
});
