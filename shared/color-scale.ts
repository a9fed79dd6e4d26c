// Colour scales for explanation values: pure functions from a value and its range to a CSS colour.
// Both scales are safe for the common colour-vision deficiencies: the sequential one is cividis
// (Nuñez, Anderton & Renslow 2018, designed to look the same to deuteranopes), whose lightness rises
// monotonically; the diverging one runs blue → near-white → orange, a pair that protan and deutan viewers
// still tell apart, with lightness falling away from zero on both sides.

/** A named scale: `sequential` for non-negative values, `diverging` for signed values centred on zero. */
export interface ColorScale {
  id: string;
  kind: 'sequential' | 'diverging';
  /** Evenly spaced colour stops, `#rrggbb`, from the low end to the high end. */
  stops: readonly string[];
}

/** Cividis sampled at nine even points (matplotlib's table), dark blue → grey → yellow. */
export const CIVIDIS: ColorScale = Object.freeze({
  id: 'cividis',
  kind: 'sequential',
  stops: Object.freeze(['#00224e', '#123570', '#3b496c', '#575d6d', '#707173', '#8a8779', '#a69d75', '#c4b56c', '#fee838']),
});

/** Blue (negative) → near-white (zero) → orange (positive). */
export const BLUE_ORANGE: ColorScale = Object.freeze({
  id: 'blue-orange',
  kind: 'diverging',
  stops: Object.freeze(['#053061', '#2166ac', '#4393c3', '#92c5de', '#f4f4f2', '#fdb863', '#e08214', '#b35806', '#7f3b08']),
});

/** A colour as red, green, blue in 0…255. */
export type Rgb = [number, number, number];

/** `#rrggbb` → [red, green, blue]. */
export function parseHex(hex: string): Rgb {
  const value = Number.parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function toHex([red, green, blue]: Rgb): string {
  const part = (channel: number) => Math.round(Math.min(255, Math.max(0, channel))).toString(16).padStart(2, '0');
  return `#${part(red)}${part(green)}${part(blue)}`;
}

/**
 * The colour at position `t` in [0, 1] along a scale, interpolated linearly between neighbouring stops.
 * Out-of-range and NaN positions are clamped (NaN → 0).
 * @example colorAt(CIVIDIS, 0) // '#00224e'
 */
export function colorAt(scale: ColorScale, t: number): string {
  const clamped = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const segments = scale.stops.length - 1;
  const position = clamped * segments;
  const index = Math.min(segments - 1, Math.floor(position));
  const fraction = position - index;
  const low = parseHex(scale.stops[index]);
  const high = parseHex(scale.stops[index + 1]);
  return toHex([0, 1, 2].map((channel) => low[channel] + (high[channel] - low[channel]) * fraction) as Rgb);
}

/**
 * Where a value sits on a scale, in [0, 1]. Sequential scales map [min, max] linearly; diverging scales are
 * centred on zero with the half-width max(|min|, |max|), so equal magnitudes get equal intensity on both sides.
 * A degenerate range puts every value at the low end (sequential) or the centre (diverging).
 * @example scalePosition(BLUE_ORANGE, -1, -2, 1) // 0.25
 */
export function scalePosition(scale: ColorScale, value: number, min: number, max: number): number {
  if (!Number.isFinite(value)) return scale.kind === 'diverging' ? 0.5 : 0;
  if (scale.kind === 'diverging') {
    const halfWidth = Math.max(Math.abs(min), Math.abs(max));
    if (!(halfWidth > 0)) return 0.5;
    return Math.min(1, Math.max(0, 0.5 + value / (2 * halfWidth)));
  }
  if (!(max > min)) return 0;
  return Math.min(1, Math.max(0, (value - min) / (max - min)));
}

/**
 * The CSS colour (`#rrggbb`) of `value` within [min, max] on a scale.
 * @example scaleColor(CIVIDIS, 1, 0, 1) // '#fee838'
 * @example scaleColor(BLUE_ORANGE, 0, -3, 3) // '#f4f4f2'
 */
export function scaleColor(scale: ColorScale, value: number, min: number, max: number): string {
  return colorAt(scale, scalePosition(scale, value, min, max));
}

/** Sequential (cividis) colour for a non-negative value. */
export function sequentialColor(value: number, min: number, max: number): string {
  return scaleColor(CIVIDIS, value, min, max);
}

/** Diverging (blue–orange) colour for a signed value; zero is the pale centre. */
export function divergingColor(value: number, min: number, max: number): string {
  return scaleColor(BLUE_ORANGE, value, min, max);
}

/** One legend stop: a value and its colour. */
export interface LegendStop {
  value: number;
  color: string;
}

/**
 * `count` evenly spaced legend stops covering the displayed range: [min, max] for sequential scales,
 * [-m, m] with m = max(|min|, |max|) for diverging ones.
 * @example legendStops(CIVIDIS, 0, 1, 3) // [{value:0,color:'#00224e'},{value:0.5,color:'#707173'},{value:1,color:'#fee838'}]
 */
export function legendStops(scale: ColorScale, min: number, max: number, count = 5): LegendStop[] {
  const [low, high] = displayedRange(scale, min, max);
  const steps = Math.max(2, Math.floor(count));
  const stops: LegendStop[] = [];
  for (let index = 0; index < steps; index++) {
    const value = low + ((high - low) * index) / (steps - 1);
    stops.push({ value, color: scaleColor(scale, value, min, max) });
  }
  return stops;
}

/** The value range a legend shows for data in [min, max] (symmetric around zero for diverging scales). */
export function displayedRange(scale: ColorScale, min: number, max: number): [number, number] {
  if (scale.kind === 'diverging') {
    const halfWidth = Math.max(Math.abs(min), Math.abs(max));
    return [-halfWidth, halfWidth];
  }
  return [min, max];
}

/** WCAG relative luminance of a `#rrggbb` colour, in [0, 1]. */
export function relativeLuminance(hex: string): number {
  const linear = parseHex(hex).map((channel) => {
    const srgb = channel / 255;
    return srgb <= 0.03928 ? srgb / 12.92 : ((srgb + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
}

/**
 * Black or white, whichever contrasts more with the background, for text drawn on a scale colour.
 * @example readableTextColor('#00224e') // '#ffffff'
 */
export function readableTextColor(background: string): '#000000' | '#ffffff' {
  const luminance = relativeLuminance(background);
  const contrastWithBlack = (luminance + 0.05) / 0.05;
  const contrastWithWhite = 1.05 / (luminance + 0.05);
  return contrastWithBlack >= contrastWithWhite ? '#000000' : '#ffffff';
}

/** The scale that fits a set of values: diverging when any is negative, else sequential. */
export function scaleFor(signed: boolean): ColorScale {
  return signed ? BLUE_ORANGE : CIVIDIS;
}

/** Smallest and largest finite value of a list; [0, 0] when there is none. */
export function finiteRange(values: Iterable<number | null | undefined>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    if (value === null || value === undefined || !Number.isFinite(value)) continue;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return min <= max ? [min, max] : [0, 0];
}
