// The README's terminal screenshot is rendered from the CLI's real ANSI output: the converter must turn exactly
// the sequences the terminal view writes into styles, and escape the text.
import { describe, expect, it } from 'vitest';
import { ansiToHtml, paletteColor } from '../../../scripts/terminal-screenshot/ansi-to-html';
import { paint } from '../../../main/cli/ansi';

describe('ANSI to HTML', () => {
  it('styles what paint() writes in 24-bit colour and in the 256-colour palette', () => {
    const style = { background: '#fee838', foreground: '#000000', bold: true, underline: true };
    expect(ansiToHtml(paint('tok', style, 'truecolor'))).toBe(
      '<span style="font-weight:700;text-decoration:underline;color:rgb(0,0,0);background:rgb(254,232,56)">tok</span>',
    );
    expect(ansiToHtml(paint('tok', { background: '#fee838' }, '256'))).toBe('<span style="background:rgb(255,215,95)">tok</span>');
    expect(ansiToHtml(paint('x', { dim: true }, '256'))).toBe('<span style="opacity:0.55">x</span>');
  });

  it('ends a style at a reset and escapes text', () => {
    expect(ansiToHtml('a\x1b[1mb\x1b[0m<&>"')).toBe('a<span style="font-weight:700">b</span>&lt;&amp;&gt;&quot;');
    expect(ansiToHtml('\x1b[48;5;16mx\x1b[49my')).toBe('<span style="background:rgb(0,0,0)">x</span>y');
  });

  it('knows the xterm palette', () => {
    expect(paletteColor(1)).toBe('rgb(205,0,0)');
    expect(paletteColor(196)).toBe('rgb(255,0,0)');
    expect(paletteColor(244)).toBe('rgb(128,128,128)');
  });
});
