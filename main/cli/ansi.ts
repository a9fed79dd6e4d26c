// ANSI escape sequences for the terminal view: which colour depth a stream gets, and the SGR codes that
// paint a token's background (and a readable foreground) in 24-bit colour or the xterm 256-colour palette.
import { parseHex, type Rgb } from '../../shared/color-scale';

/** What `--color` asks for. */
export const COLOR_CHOICES = ['auto', 'always', 'never'] as const;
export type ColorChoice = (typeof COLOR_CHOICES)[number];

/** The colour depth written: 24-bit, the xterm 256-colour palette, or none. */
export type ColorDepth = 'truecolor' | '256' | 'none';

/**
 * The colour depth for a stream. `never` and `always` win over everything; `auto` colours only a TTY, and not
 * when NO_COLOR is set to anything non-empty (no-color.org) or TERM is "dumb". 24-bit colour needs COLORTERM
 * "truecolor" or "24bit" (how terminals announce it); every other colour terminal gets the 256-colour palette.
 * @example colorDepth('auto', {COLORTERM: 'truecolor'}, true) // 'truecolor'
 * @example colorDepth('auto', {NO_COLOR: '1'}, true) // 'none'
 */
export function colorDepth(choice: ColorChoice, env: NodeJS.ProcessEnv, isTTY: boolean): ColorDepth {
  if (choice === 'never') return 'none';
  if (choice === 'auto' && (!isTTY || (env.NO_COLOR ?? '') !== '' || env.TERM === 'dumb')) return 'none';
  const announced = (env.COLORTERM ?? '').toLowerCase();
  return announced === 'truecolor' || announced === '24bit' ? 'truecolor' : '256';
}

/** The six channel levels of the xterm colour cube (indices 16–231). */
const CUBE_LEVELS = [0, 95, 135, 175, 215, 255];

function nearestCubeLevel(channel: number): number {
  let best = 0;
  for (let index = 1; index < CUBE_LEVELS.length; index++) {
    if (Math.abs(CUBE_LEVELS[index] - channel) < Math.abs(CUBE_LEVELS[best] - channel)) best = index;
  }
  return best;
}

function distance(a: Rgb, b: Rgb): number {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;
}

/**
 * The xterm 256-colour index closest to a colour: the nearest point of the 6×6×6 cube or of the 24-step grey
 * ramp (232–255, 8 + 10·i), whichever is closer. The 16 system colours are skipped because terminals theme them.
 * @example xterm256('#000000') // 16
 * @example xterm256('#fee838') // 221
 */
export function xterm256(hex: string): number {
  const rgb = parseHex(hex);
  const [red, green, blue] = rgb.map(nearestCubeLevel);
  const cube: Rgb = [CUBE_LEVELS[red], CUBE_LEVELS[green], CUBE_LEVELS[blue]];
  const cubeIndex = 16 + 36 * red + 6 * green + blue;
  const mean = (rgb[0] + rgb[1] + rgb[2]) / 3;
  const greyStep = Math.min(23, Math.max(0, Math.round((mean - 8) / 10)));
  const greyLevel = 8 + 10 * greyStep;
  const grey: Rgb = [greyLevel, greyLevel, greyLevel];
  return distance(grey, rgb) < distance(cube, rgb) ? 232 + greyStep : cubeIndex;
}

/** SGR parameters that set the background (`layer` 48) or foreground (38) to a colour at a depth. */
function colorParameters(layer: 38 | 48, hex: string, depth: Exclude<ColorDepth, 'none'>): string {
  if (depth === 'truecolor') return `${layer};2;${parseHex(hex).join(';')}`;
  return `${layer};5;${xterm256(hex)}`;
}

/** The reset sequence that ends every painted span. */
export const RESET = '\x1b[0m';

/** Extra text attributes a painted span may carry. */
export interface PaintStyle {
  background?: string;
  foreground?: string;
  bold?: boolean;
  underline?: boolean;
  dim?: boolean;
}

/**
 * Wraps text in one SGR sequence and a reset; with depth `none` (or no style at all) returns the text unchanged.
 * @example paint('hi', {background: '#fee838', foreground: '#000000'}, 'truecolor')
 * // '\x1b[48;2;254;232;56;38;2;0;0;0mhi\x1b[0m'
 */
export function paint(text: string, style: PaintStyle, depth: ColorDepth): string {
  if (depth === 'none') return text;
  const parameters: string[] = [];
  if (style.bold) parameters.push('1');
  if (style.dim) parameters.push('2');
  if (style.underline) parameters.push('4');
  if (style.background) parameters.push(colorParameters(48, style.background, depth));
  if (style.foreground) parameters.push(colorParameters(38, style.foreground, depth));
  return parameters.length === 0 ? text : `\x1b[${parameters.join(';')}m${text}${RESET}`;
}
