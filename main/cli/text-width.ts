// Columns a string takes in a terminal, for wrapping token chips: wide East Asian characters and most emoji
// take two columns, combining marks and zero-width characters none, everything else one.

/** Code point ranges that terminals draw two columns wide (East Asian Wide/Fullwidth and emoji blocks). */
const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff], [0x1fa70, 0x1faff], [0x20000, 0x3fffd],
];

/** Combining marks, zero-width space/joiners and variation selectors: drawn on the previous character. */
const ZERO_WIDTH = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u200b-\u200f\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f]/;

/**
 * The number of terminal columns `text` occupies (no escape sequences expected).
 * @example displayWidth('abc') // 3
 * @example displayWidth('日本') // 4
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const character of text) {
    if (ZERO_WIDTH.test(character)) continue;
    const code = character.codePointAt(0)!;
    width += WIDE.some(([low, high]) => code >= low && code <= high) ? 2 : 1;
  }
  return width;
}
