// writeJsonFile writes exactly what JSON.stringify(value, null, 2) + '\n' gives, without holding the text.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeJsonFile } from '../../../main/cli/json-file';
import { mulberry32 } from '../../../shared/random';

const folder = mkdtempSync(join(tmpdir(), 'json-file-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function written(value: unknown): string {
  const path = join(folder, 'out.json');
  writeJsonFile(path, value);
  return readFileSync(path, 'utf8');
}

/** Float32 values widened to doubles, as the run JSON holds them, in [rows][cols] arrays. */
function rows(count: number, cols: number, seed: number): number[][] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => Array.from(Float32Array.from({ length: cols }, () => next() / (1 + 1000 * next()))));
}

const holes: unknown[] = [1, , [2]]; // eslint-disable-line no-sparse-arrays
const CASES: Record<string, unknown> = {
  'a run-like object': {
    schema: 'llm-explainer.run/1',
    tokens: { ids: [1, 2, 3], text: ['a', '"b"\n', 'é\u2028😀'], role: ['prompt', 'answer', 'answer'] },
    attention: { layers: 2, heads: 2, data: [[rows(2, 3, 1), rows(2, 3, 2)], [rows(2, 3, 3), rows(2, 3, 4)]], rollout: [], headStats: { previousToken: [[null, 0.5]] } },
    timings: { load: 1.5, attention: 2 },
    skipped: undefined,
    method: () => 1,
    createdAt: new Date(0),
  },
  'special numbers and empties': { a: [NaN, -0, Infinity, -Infinity, 1e-7, 1e21], b: [], c: {}, d: [[], {}, [[]]], e: null, f: true },
  'undefined, functions and holes in arrays': [undefined, () => 1, Symbol('s'), holes, [undefined]],
  'objects with toJSON': { when: new Date(86_400_000), custom: { toJSON: () => ({ x: [1, { y: 2 }] }) }, list: [{ toJSON: () => 'z' }] },
  'a top-level row of numbers': [0.1, 0.2, 0.30000000000000004],
  'a string': 'text',
  'more than one write of text': { data: [rows(40, 2048, 5), rows(40, 2048, 6)] },
};

describe('writeJsonFile', () => {
  it.each(Object.keys(CASES))('%s: the same text as JSON.stringify(value, null, 2)', (name) => {
    const value = CASES[name];
    expect(written(value)).toBe(`${JSON.stringify(value, null, 2)}\n`);
  });

  it('refuses a value JSON has no text for', () => {
    expect(() => written(undefined)).toThrow(/no JSON text/);
  });
});
