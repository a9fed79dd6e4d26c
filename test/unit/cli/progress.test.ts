// Terminal progress: time in the stage and an estimate of what is left, from an injected clock so the output
// is exact; a real Writable stands in for the terminal.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatDuration, remainingMs, terminalProgress } from '../../../main/cli/progress';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, callback) {
        chunks.push(String(chunk));
        callback();
      },
    }),
    { isTTY, columns: 120 },
  );
  return { stream, chunks };
}

describe('progress', () => {
  it('formats durations for people', () => {
    expect(formatDuration(0)).toBe('0.0 s');
    expect(formatDuration(3240)).toBe('3.2 s');
    expect(formatDuration(42_400)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2 min 05 s');
  });

  it('estimates what is left from the progress made in the stage', () => {
    expect(remainingMs(10_000, 0.2, 0.7)).toBeCloseTo(6000, 6);
    expect(remainingMs(500, 0, 0.5)).toBeUndefined(); // too early
    expect(remainingMs(5000, 0.3, 0.3)).toBeUndefined(); // no progress within the stage
    expect(remainingMs(5000, 0, 1)).toBeUndefined(); // finished
  });

  it('shows elapsed time per stage and the estimate on a terminal', () => {
    let clock = 0;
    const { stream, chunks } = sink(true);
    const progress = terminalProgress(stream, false, () => clock);
    progress.update('load', 0);
    clock = 2000;
    progress.update('gradients', 0);
    clock = 6000;
    progress.update('gradients', 0.25, 'rows 8/32');
    clock = 10_000;
    progress.update('gradients', 0.5, 'rows 16/32');
    progress.done();
    expect(chunks).toEqual([
      '\r\x1b[2Kloading model [........................] 0% 0.0 s',
      '\r\x1b[2Kgradients [........................] 0% 0.0 s',
      '\r\x1b[2Kgradients [######..................] 25% 4.0 s, about 12 s left rows 8/32',
      '\r\x1b[2Kgradients [############............] 50% 8.0 s, about 8.0 s left rows 16/32',
      '\r\x1b[2K',
    ]);
  });

  it('counts the estimate down while the fraction stays put, instead of letting it grow', () => {
    let clock = 0;
    const { stream, chunks } = sink(true);
    const progress = terminalProgress(stream, false, () => clock);
    progress.update('gradients', 0);
    clock = 2000;
    progress.update('gradients', 0.5);
    clock = 3500;
    progress.update('gradients', 0.5);
    clock = 5000;
    progress.update('gradients', 0.5);
    progress.done();
    expect(chunks.slice(1, 4)).toEqual([
      '\r\x1b[2Kgradients [############............] 50% 2.0 s, about 2.0 s left',
      '\r\x1b[2Kgradients [############............] 50% 3.5 s, about 0.5 s left',
      '\r\x1b[2Kgradients [############............] 50% 5.0 s',
    ]);
  });

  it('writes one line per stage with the time so far when not on a terminal', () => {
    let clock = 0;
    const { stream, chunks } = sink(false);
    const progress = terminalProgress(stream, false, () => clock);
    progress.update('load', 0);
    clock = 1500;
    progress.update('generate', 0.1);
    progress.update('generate', 0.5);
    clock = 75_000;
    progress.update('attention', 0);
    progress.done();
    expect(chunks).toEqual(['… loading model (0.0 s so far)\n', '… generating (1.5 s so far)\n', '… attention (1 min 15 s so far)\n']);
  });

  it('stays silent when quiet', () => {
    const { stream, chunks } = sink(true);
    const progress = terminalProgress(stream, true, () => 0);
    progress.update('load', 0.5);
    progress.done();
    expect(chunks).toEqual([]);
  });
});
