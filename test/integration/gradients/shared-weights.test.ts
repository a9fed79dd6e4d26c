// Derivative graphs of one model share one weights file (model-files.ts sharedWeightsFile): measured in a process of
// its own (test/fixtures/shared-weights-child.ts) on a model with 69 MB of weights. A new length bucket writes its
// graphs, not the weights, to the cache; and a derivative session of the second bucket reads the weights pages the
// first one mapped, so the process's proportional memory (PSS) does not grow by another copy; and the derivative
// sessions map the very file the plain and instrumented attention sessions map (test/fixtures/shared-sessions-child.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

interface ChildReport {
  weightBytes: number;
  built: number;
  cacheWritten: number;
  forwardSessionGrowth: number[];
}

describe('shared weights', () => {
  it('a new bucket writes no weight copy, and its forward session maps the weights already in memory', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/fixtures/shared-weights-child.ts'], {
      maxBuffer: 1 << 20,
      timeout: 300_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
    expect(report.built).toBe(1);
    // Before: each bucket wrote the weights once for its forward graph and once for its reverse graph (135 MB here).
    expect(report.cacheWritten).toBeLessThan(0.01 * report.weightBytes);
    const [first, second] = report.forwardSessionGrowth;
    // The first forward run touches every weight page (the measurement sees them) …
    expect(first).toBeGreaterThan(0.5 * report.weightBytes);
    // … the second bucket's maps the same file: before, it grew by a whole copy (68.7 MB measured). What it adds
    // besides is the session's own graph and allocations, 0.1–11.5 MB across runs (more on a loaded machine), so the
    // bound is a quarter of a copy.
    expect(second).toBeLessThan(0.25 * report.weightBytes);
  }, 320_000);

  it('shared weights are not copied: opening the derivative sessions next to the plain and attention sessions adds no weight copy', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/fixtures/shared-sessions-child.ts'], {
      maxBuffer: 1 << 20,
      timeout: 300_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { weightBytes: number; opened: number; pssGrowth: number; anonymousGrowth: number; rssGrowth: number };
    expect(report.opened).toBe(2);
    // Both sessions map the model's one weights file, which the plain and attention sessions map already: measured
    // +0.1 MB of PSS and +0.6 MB private for 69 MB of weights. Before, the forward session mapped a weights file of
    // its own (+1 copy) and the reverse session pre-packed its weights and folded transposed copies (+1.6 copies).
    // (RSS grows by 136 MB: it counts a mapped page once per session that maps it, not once in memory.)
    expect(report.pssGrowth).toBeLessThan(0.1 * report.weightBytes);
    expect(report.anonymousGrowth).toBeLessThan(0.1 * report.weightBytes);
  }, 320_000);
});
