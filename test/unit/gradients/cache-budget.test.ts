// The derivative-graph cache budget: least recently used entries go first, kept entries stay, files of one entry go
// together.
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneCache, touchCacheEntry } from '../../../main/engine/gradients/cache-budget';

let folder: string;
afterEach(async () => rm(folder, { recursive: true, force: true }));

async function entry(prefix: string, bytes: number, usedSecondsAgo: number, weights?: string): Promise<void> {
  await writeFile(join(folder, `${prefix}.onnx`), new Uint8Array(100));
  await writeFile(join(folder, `${prefix}.onnx.data`), new Uint8Array(bytes));
  await writeFile(join(folder, `${prefix}.reverse.onnx.data`), new Uint8Array(bytes));
  await writeFile(join(folder, `${prefix}.onnx.json`), JSON.stringify({ weights }));
  const when = new Date(Date.now() - usedSecondsAgo * 1000);
  await utimes(join(folder, `${prefix}.onnx.json`), when, when);
}

describe('gradient cache budget', () => {
  it('removes least recently used entries until the folder fits, keeping the ones named', async () => {
    folder = await mkdtemp(join(tmpdir(), 'llm-explainer-cache-'));
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => x.repeat(32));
    await entry(a, 1000, 400); // oldest, but kept
    await entry(b, 1000, 300);
    await entry(c, 1000, 200);
    await entry(d, 1000, 100);
    await touchCacheEntry(join(folder, `${b}.onnx.json`)); // b is now the most recent
    await writeFile(join(folder, 'unrelated.txt'), 'x');
    const removed = await pruneCache(folder, 3 * 2200, new Set([a]));
    expect(removed).toEqual([c]);
    const left = await readdir(folder);
    expect(left.some((f) => f.startsWith(c))).toBe(false);
    for (const prefix of [a, b, d]) expect(left.filter((f) => f.startsWith(prefix)).length).toBe(4);
    expect(left).toContain('unrelated.txt');
  });

  it('counts shared weights files and removes one when no entry left names it', async () => {
    folder = await mkdtemp(join(tmpdir(), 'llm-explainer-cache-'));
    const [kept, gone] = ['1'.repeat(32), '2'.repeat(32)].map((hash) => `weights-${hash}.data`);
    for (const name of [kept, gone]) {
      await writeFile(join(folder, name), new Uint8Array(5000));
      await writeFile(join(folder, `${name}.json`), '{}');
    }
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(32));
    await entry(a, 100, 300, gone);
    await entry(b, 100, 200, kept);
    await entry(c, 100, 100, kept);
    // Entries are 300-odd bytes each: only the weights (10000 bytes) push the folder over 6000.
    expect(await pruneCache(folder, 6000)).toEqual([a]);
    const left = await readdir(folder);
    expect(left).toContain(kept);
    expect(left).toContain(`${kept}.json`);
    expect(left).not.toContain(gone);
    expect(left).not.toContain(`${gone}.json`);
  });

  it('leaves a folder within its budget alone', async () => {
    folder = await mkdtemp(join(tmpdir(), 'llm-explainer-cache-'));
    await entry('e'.repeat(32), 10, 10);
    expect(await pruneCache(folder, 1e6)).toEqual([]);
  });
});
