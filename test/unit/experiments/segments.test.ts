import { describe, expect, it } from 'vitest';
import { automaticSegments, markedSegments, segmentFromMask, segmentTensors, splitDataBlocks } from '../../../main/experiments/segments';
import type { RunJson } from '../../../shared/run';

/** A run with hand-made token texts in the llama-2 chat layout. */
function run(texts: string[], input: RunJson['input']): Pick<RunJson, 'input' | 'tokens' | 'promptLength'> {
  return { input, tokens: { ids: texts.map((_, i) => i), text: texts, role: texts.map(() => 'prompt') }, promptLength: texts.length };
}

const chat = run(
  ['<s>', ' [', 'INST', ']', ' <<', 'SYS', '>>', '\n', 'Be', ' brief', '.', '\n', '<', '</', 'SYS', '>>', '\n', '\n',
    '[', 'DATA', ']', 'Support', ' is', ' open', ' ', '9', '.[', '/', 'DATA', ']', ' When', '?', ' [', '/', 'INST', ']'],
  { task: 'chat', system: 'Be brief.', messages: [{ role: 'user', content: '[DATA]Support is open 9.[/DATA] When?' }] },
);

describe('prompt segments', () => {
  it('finds system, user, data, question and template tokens by character offsets', () => {
    const byName = Object.fromEntries(automaticSegments(chat).map((s) => [s.name, s.ranges]));
    expect(byName.system).toEqual([[8, 11]]);
    expect(byName.user).toEqual([[18, 32]]);
    // ".[" holds the data's last character and the marker's first: a token belongs where it overlaps.
    expect(byName.data).toEqual([[21, 27]]);
    expect(byName.question).toEqual([[30, 32]]);
    expect(byName.template).toEqual([[0, 8], [11, 18], [32, 36]]);
  });

  it('matches marked spans ignoring white space differences, and reports missing ones', () => {
    const { segments, missing } = markedSegments(chat, [
      { name: 'hours', text: 'open  9' },
      { name: 'hours', text: 'When' },
      { name: 'gone', text: 'nowhere' },
      { name: 'sys', text: 'brief', field: 'system' },
    ]);
    expect(segments).toEqual([
      { name: 'hours', kind: 'marked', ranges: [[23, 26], [30, 31]] },
      { name: 'sys', kind: 'marked', ranges: [[9, 10]] },
    ]);
    expect(missing.map((m) => m.name)).toEqual(['gone']);
  });

  it('stores marked segments as masks and reads them back', () => {
    const [tensor] = segmentTensors([{ name: 'x', kind: 'marked', ranges: [[1, 3], [5, 6]] }], 8);
    expect(tensor.name).toBe('segment.x');
    expect(Array.from(tensor.data)).toEqual([0, 1, 1, 0, 0, 1, 0, 0]);
    expect(segmentFromMask('x', tensor.data).ranges).toEqual([[1, 3], [5, 6]]);
  });

  it('splits [DATA] blocks', () => {
    expect(splitDataBlocks('a[DATA]b[/DATA]c[DATA]d[/DATA]')).toEqual({ data: ['b', 'd'], outside: ['a', 'c', ''] });
    expect(splitDataBlocks('no markers [DATA] unclosed')).toEqual({ data: [], outside: ['no markers [DATA] unclosed'] });
  });
});
