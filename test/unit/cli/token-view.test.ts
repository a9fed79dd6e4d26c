// The terminal view of a run: exact escape sequences of painted tokens, the legend, wrapping that never splits
// a token, visible whitespace and controls, and the flags that choose method, token and colour.
import { describe, expect, it } from 'vitest';
import { defaultViewMethod, renderTokenView, terminalToken, wrapChips } from '../../../main/cli/token-view';
import { checkViewAgainstMethods, tokenViewFor, viewFlagsFromArgs } from '../../../main/cli/view-flags';
import { UsageError } from '../../../main/cli/args';
import { makeRun } from '../renderer/run-fixture';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const plain = (text: string) => text.replace(ANSI, '');

/** A run whose whole-answer saliency is 0 except 1 on " phone" and 0.5 on " support". */
function saliencyRun() {
  const run = makeRun({ prompt: ['<s>', 'When', ' is', ' phone', ' support', '\n'], answer: [' 9', 'am'] });
  const values = [0, 0, 0, 1, 0.5, 0, 0, 0];
  run.gradient = { ...run.gradient, sequence: { saliency: values, gradXInput: values.map((value) => -value) } };
  return run;
}

describe('terminal view', () => {
  it('paints the largest value with the top of the sequential scale, black on yellow, in 24-bit colour', () => {
    const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: 'truecolor', width: 80 });
    expect(out).toContain('\x1b[48;2;254;232;56;38;2;0;0;0m·phone\x1b[0m');
    // Zero is the scale's dark-blue bottom (cividis #00224e) with white text.
    expect(out).toContain('\x1b[48;2;0;34;78;38;2;255;255;255mWhen\x1b[0m');
  });

  it('falls back to palette indices at 256 colours', () => {
    const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: '256', width: 80 });
    expect(out).toContain('\x1b[48;5;221;38;5;16m·phone\x1b[0m');
    expect(out).not.toContain('48;2;');
  });

  it('uses the diverging scale for signed methods: the most negative value is the dark-blue end, zero the pale centre', () => {
    const out = renderTokenView(saliencyRun(), { method: 'grad_x_input', focus: 'sequence', depth: 'truecolor', width: 100 });
    expect(out).toContain('\x1b[48;2;5;48;97;38;2;255;255;255m·phone\x1b[0m');
    expect(out).toContain('\x1b[48;2;244;244;242;38;2;0;0;0mWhen\x1b[0m');
    expect(out).toMatch(/grad_x_input, whole answer: -1 .* 1 {2}\(values -1 … 0, 0 pale\)/);
  });

  it('writes no escape sequence without colour, and still shows the range', () => {
    const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: 'none', width: 80 });
    expect(out).not.toContain('\x1b');
    expect(out).toContain('saliency, whole answer: values 0 … 1 (no colour; --color always to paint them)');
    const narrow = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: 'none', width: 40 });
    expect(narrow.trimEnd().split('\n').at(-1)).toBe('saliency, whole answer: values 0 … 1');
  });

  it('has a one-line legend whose colour bar runs from the low to the high end of the scale', () => {
    const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: 'truecolor', width: 80 });
    const legend = out.split('\n').find((line) => line.startsWith('saliency, whole answer'))!;
    const cells = [...legend.matchAll(/\x1b\[48;2;(\d+);(\d+);(\d+)m \x1b\[0m/g)].map((match) => match.slice(1).map(Number));
    expect(cells).toHaveLength(24);
    expect(cells[0][2]).toBeGreaterThan(cells[0][0]); // dark blue first
    expect(cells[23][0]).toBeGreaterThan(200); // yellow last
    expect(plain(legend)).toMatch(/^saliency, whole answer: 0 {26}1 {2}\(values 0 … 1\)$/);
  });

  it('keeps the legend on one line of a narrow terminal: the range note goes, then the bar shrinks', () => {
    const legendAt = (width: number) => {
      const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: '256', width });
      return plain(out.split('\n').find((line) => line.includes('saliency, whole answer'))!);
    };
    expect(legendAt(80)).toContain('(values 0 … 1)');
    expect(legendAt(60)).toBe(`saliency, whole answer: 0 ${' '.repeat(24)} 1`);
    expect(legendAt(40)).toBe(`saliency, whole answer: 0 ${' '.repeat(12)} 1`);
    expect(legendAt(40)).toHaveLength(40);
  });

  it('shows whitespace and special tokens visibly and starts a new line after a newline token', () => {
    const out = renderTokenView(saliencyRun(), { method: 'saliency', focus: 'sequence', depth: 'none', width: 80 });
    const lines = out.split('\n');
    expect(lines).toContain('<s> When ·is ·phone ·support ↵');
    expect(lines).toContain('·9 am');
  });

  it('marks the explained answer token and leaves the tokens it cannot see unpainted', () => {
    const run = makeRun();
    const colour = renderTokenView(run, { method: 'saliency', focus: 1, depth: 'truecolor', width: 80 });
    expect(colour).toContain('\x1b[1;4m-\x1b[0m'); // answer token 1 is "-": bold, underlined, no value
    expect(colour).toContain('\x1b[2mFri\x1b[0m'); // after it: dim
    expect(colour.split('\n')[0]).toContain('Saliency — answer token 1 "-"');
    const none = renderTokenView(run, { method: 'saliency', focus: 1, depth: 'none', width: 80 });
    expect(none).toContain('·Mon [-] Fri ·9 am');
  });

  it('notes that integrated gradients explain the whole answer when one token is asked for', () => {
    const out = renderTokenView(makeRun(), { method: 'integrated_gradients', focus: 2, depth: 'none', width: 80 });
    expect(out.trimEnd().split('\n').at(-1)).toMatch(/whole answer/);
  });

  it('--words: one chip per word, values summed per word, the whole word of the explained token marked', () => {
    const run = makeRun({ prompt: ['<s>', 'When', ' is', ' ph', 'one', ' support', '\n'], answer: [' 9', 'am', ' sharp'] });
    const values = [0, 0, 0, 1, 0.25, 0.5, 0, 0, 0, 0];
    run.gradient = { ...run.gradient, sequence: { saliency: values, gradXInput: values.map((value) => -value) } };
    const out = renderTokenView(run, { method: 'saliency', focus: 'sequence', depth: 'none', width: 80, words: true });
    const lines = out.split('\n');
    expect(lines[1]).toBe('prompt  6 words');
    expect(lines[2]).toBe('<s> When ·is ·phone ·support ↵');
    expect(lines[3]).toBe('answer  2 words');
    expect(lines[4]).toBe('·9am ·sharp');
    // The range is that of the word sums: " phone" = 1 + 0.25.
    expect(lines[5]).toMatch(/^saliency, whole answer, by words \(sums\): values 0 … 1\.25/);
    const focused = renderTokenView(run, { method: 'saliency', focus: 1, depth: 'none', width: 80, words: true });
    expect(focused.split('\n')[0]).toBe('Saliency — answer word " 9am" (its tokens\' rows averaged; token 1 "am")');
    expect(focused.split('\n')[4]).toBe('[·9am] ·sharp');
    expect(viewFlagsFromArgs({ words: true }).words).toBe(true);
    expect(viewFlagsFromArgs({}).words).toBe(false);
  });

  it('replaces control characters in token text so a model cannot send the terminal escapes', () => {
    expect(terminalToken(' hi\x1b[2J')).toBe('·hi␛[2J');
    expect(terminalToken('a\rb\u0085')).toBe('a␍b�');
    const run = makeRun({ prompt: ['<s>', '\x1b]0;owned\x07'], answer: ['ok'] });
    expect(renderTokenView(run, { method: 'saliency', focus: 'sequence', depth: 'none', width: 80 })).not.toContain('\x1b');
  });
});

describe('wrapping', () => {
  const words = Array.from({ length: 40 }, (_, index) => `tok${index}${'x'.repeat(index % 7)}`);
  const run = makeRun({ prompt: words.map((word) => ` ${word}`), answer: ['end'] });

  it.each([20, 33, 80])('keeps every line within %i columns and never splits a token', (width) => {
    for (const depth of ['none', 'truecolor'] as const) {
      const out = renderTokenView(run, { method: 'saliency', focus: 'sequence', depth, width });
      const lines = out.split('\n').map(plain);
      const promptLines = lines.slice(2, lines.indexOf('answer  1 tokens'));
      expect(promptLines.length).toBeGreaterThan(1);
      for (const line of promptLines) expect([...line].length).toBeLessThanOrEqual(width);
      expect(promptLines.join(' ').split(' ')).toEqual(words.map((word) => `·${word}`));
    }
  });

  it('gives a token wider than the line a line of its own', () => {
    const chip = (text: string) => ({ width: text.length, lineBreak: false, painted: text });
    expect(wrapChips([chip('ab'), chip('x'.repeat(12)), chip('cd')], 10)).toEqual(['ab', 'x'.repeat(12), 'cd']);
  });

  it('counts wide characters as two columns', () => {
    const chip = (text: string, width: number) => ({ width, lineBreak: false, painted: text });
    const cjk = renderTokenView(makeRun({ prompt: ['日本語', '日本語', '日本語'], answer: ['x'] }), { method: 'saliency', focus: 'sequence', depth: 'none', width: 13 });
    expect(cjk.split('\n')[2]).toBe('日本語 日本語');
    expect(wrapChips([chip('a', 1), chip('b', 1)], 3)).toEqual(['a b']);
  });
});

describe('view flags', () => {
  it('reads --view names, --answer-token and --color', () => {
    expect(viewFlagsFromArgs({})).toEqual({ method: undefined, answerToken: undefined, color: 'auto', words: false });
    expect(viewFlagsFromArgs({ view: 'rollout', 'answer-token': '2', color: 'never', words: true })).toEqual({ method: 'attention.rollout', answerToken: 2, color: 'never', words: true });
    expect(viewFlagsFromArgs({ view: 'attention' }).method).toBe('attention.mean');
    expect(viewFlagsFromArgs({ view: 'attention_mean' }).method).toBe('attention.mean');
    expect(viewFlagsFromArgs({ view: 'none' }).method).toBeNull();
    expect(() => viewFlagsFromArgs({ view: 'heatmap' })).toThrow(/--view must be one of attention, rollout/);
    expect(() => viewFlagsFromArgs({ color: 'yes' })).toThrow(UsageError);
    expect(() => viewFlagsFromArgs({ 'answer-token': '-1' })).toThrow(UsageError);
  });

  it('defaults to the first method the run was asked for', () => {
    const run = makeRun();
    expect(defaultViewMethod({ ...run, methods: ['saliency', 'attention'] })).toBe('saliency');
    expect(defaultViewMethod({ ...run, methods: ['attention', 'saliency'] })).toBe('attention.mean');
    expect(defaultViewMethod({ ...run, methods: ['integrated_gradients'] })).toBe('integrated_gradients');
    expect(defaultViewMethod({ ...run, attention: undefined, gradient: undefined, integratedGradients: undefined })).toBeUndefined();
  });

  it('refuses a view whose method the run does not compute, before the run', () => {
    expect(() => checkViewAgainstMethods(viewFlagsFromArgs({ view: 'saliency' }), ['attention'])).toThrow(/--view saliency needs --methods to include saliency/);
    expect(() => checkViewAgainstMethods(viewFlagsFromArgs({ view: 'rollout' }), ['attention'])).not.toThrow();
  });

  it('colours a TTY, not a pipe (80 columns), and respects NO_COLOR', () => {
    const run = { ...makeRun({ prompt: Array.from({ length: 60 }, () => ' word'), answer: ['x'] }), methods: ['saliency'] };
    const flags = viewFlagsFromArgs({});
    const piped = tokenViewFor(run, flags, { isTTY: false, columns: 200 }, { COLORTERM: 'truecolor' });
    expect(piped).not.toContain('\x1b');
    expect(Math.max(...piped.split('\n').map((line) => [...line].length))).toBeLessThanOrEqual(80);
    expect(tokenViewFor(run, flags, { isTTY: true, columns: 120 }, { COLORTERM: 'truecolor' })).toContain('\x1b[48;2;');
    expect(tokenViewFor(run, flags, { isTTY: true, columns: 120 }, { NO_COLOR: '1' })).not.toContain('\x1b');
    expect(tokenViewFor(run, { ...flags, color: 'always' }, { isTTY: false }, {})).toContain('\x1b[48;5;');
    expect(tokenViewFor(run, { ...flags, method: null }, { isTTY: true }, {})).toBe('');
  });

  it('names what the run has when the view or the answer token does not exist', () => {
    const run = { ...makeRun(), integratedGradients: undefined };
    expect(() => tokenViewFor(run, viewFlagsFromArgs({ view: 'integrated_gradients' }), {}, {})).toThrow(
      /run run-fixture has no such values; it has: attention, rollout, saliency, grad_x_input/,
    );
    expect(() => tokenViewFor(run, viewFlagsFromArgs({ 'answer-token': '5' }), {}, {})).toThrow(/has 5 tokens \(0 to 4\)/);
    const failed = { ...run, status: 'failed' as const, attention: undefined, gradient: undefined };
    expect(() => tokenViewFor(failed, viewFlagsFromArgs({ view: 'saliency' }), {}, {})).toThrow(/has no such values; it has none \(status failed\)/);
    expect(tokenViewFor(failed, viewFlagsFromArgs({}), {}, {})).toBe('');
  });
});
