// The terminal view's escape sequences: which colour depth a stream gets, the xterm palette fallback and the
// exact SGR codes of a painted span.
import { describe, expect, it } from 'vitest';
import { colorDepth, paint, xterm256 } from '../../../main/cli/ansi';
import { BLUE_ORANGE, CIVIDIS, colorAt, parseHex, type Rgb } from '../../../shared/color-scale';

describe('colour depth', () => {
  it.each([
    ['never', { COLORTERM: 'truecolor' }, true, 'none'],
    ['always', {}, false, '256'],
    ['always', { COLORTERM: 'truecolor' }, false, 'truecolor'],
    ['always', { NO_COLOR: '1', COLORTERM: '24bit' }, false, 'truecolor'],
    ['auto', { COLORTERM: 'truecolor' }, false, 'none'],
    ['auto', { COLORTERM: 'truecolor' }, true, 'truecolor'],
    ['auto', { COLORTERM: 'TrueColor' }, true, 'truecolor'],
    ['auto', {}, true, '256'],
    ['auto', { COLORTERM: 'yes' }, true, '256'],
    ['auto', { NO_COLOR: '1', COLORTERM: 'truecolor' }, true, 'none'],
    ['auto', { NO_COLOR: '' }, true, '256'],
    ['auto', { TERM: 'dumb' }, true, 'none'],
  ] as const)('--color %s with %j on a TTY=%s → %s', (choice, env, tty, depth) => {
    expect(colorDepth(choice, env as NodeJS.ProcessEnv, tty)).toBe(depth);
  });
});

/** The xterm palette entries 16–255 as RGB, written out from the xterm definition. */
function palette(): Map<number, Rgb> {
  const levels = [0, 95, 135, 175, 215, 255];
  const entries = new Map<number, Rgb>();
  for (let r = 0; r < 6; r++) for (let g = 0; g < 6; g++) for (let b = 0; b < 6; b++) entries.set(16 + 36 * r + 6 * g + b, [levels[r], levels[g], levels[b]]);
  for (let step = 0; step < 24; step++) entries.set(232 + step, [8 + 10 * step, 8 + 10 * step, 8 + 10 * step]);
  return entries;
}

function squaredDistance(a: Rgb, b: Rgb): number {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;
}

describe('256-colour fallback', () => {
  it('maps known colours to their xterm entries', () => {
    expect(xterm256('#000000')).toBe(16);
    expect(xterm256('#ffffff')).toBe(231);
    expect(xterm256('#ff0000')).toBe(196);
    expect(xterm256('#808080')).toBe(244);
    expect(xterm256('#fee838')).toBe(221);
  });

  it('picks the nearest palette entry (16–255) for every colour the two scales draw', () => {
    const entries = palette();
    for (const scale of [CIVIDIS, BLUE_ORANGE]) {
      for (let i = 0; i <= 64; i++) {
        const hex = colorAt(scale, i / 64);
        const rgb = parseHex(hex);
        const best = Math.min(...[...entries.values()].map((entry) => squaredDistance(entry, rgb)));
        expect(squaredDistance(entries.get(xterm256(hex))!, rgb), hex).toBe(best);
      }
    }
  });
});

describe('paint', () => {
  it('writes 24-bit background and foreground parameters and a reset', () => {
    expect(paint('hi', { background: '#fee838', foreground: '#000000' }, 'truecolor')).toBe('\x1b[48;2;254;232;56;38;2;0;0;0mhi\x1b[0m');
  });

  it('writes palette indices at 256 colours', () => {
    expect(paint('hi', { background: '#fee838', foreground: '#ffffff' }, '256')).toBe('\x1b[48;5;221;38;5;231mhi\x1b[0m');
  });

  it('puts bold, dim and underline before the colours', () => {
    expect(paint('x', { bold: true, underline: true, background: '#000000' }, '256')).toBe('\x1b[1;4;48;5;16mx\x1b[0m');
    expect(paint('x', { dim: true }, 'truecolor')).toBe('\x1b[2mx\x1b[0m');
  });

  it('writes no escape at all without colour, or with nothing to paint', () => {
    expect(paint('hi', { background: '#fee838', bold: true }, 'none')).toBe('hi');
    expect(paint('hi', {}, 'truecolor')).toBe('hi');
  });
});
