// A one-shot gradient run (computeGradients `oneShot`, GradientProgram.runRows `release`) closes the answer rows'
// forward session before the reverse passes and the reverse session after them: the numbers are the same as with the
// sessions kept, nothing of the weights file stays mapped afterwards, and a later run of the shape opens them again.
// Real sessions on the builder llama fixture; the mappings are the kernel's (/proc/self/smaps, via stageMemory).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { computeGradients, type GradientResult } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { stageMemory } from '../../../main/fault-injection';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
let path: string;
let cacheDir: string;

/** Mappings of this test's cached weights files by this process. */
function mapped(): number {
  return stageMemory('test').weights.filter((file) => file.file.startsWith(cacheDir)).reduce((sum, file) => sum + file.mappings, 0);
}

function explain(program: GradientProgram, oneShot: boolean): Promise<GradientResult> {
  return computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['saliency', 'grad_x_input'], oneShot });
}

beforeAll(async () => {
  path = join(await fixtureFolder('llama'), 'onnx', 'model.onnx');
  cacheDir = await mkdtemp(join(tmpdir(), 'llm-explainer-release-'));
});
afterAll(() => rm(cacheDir, { recursive: true, force: true }));

describe('answer rows released after their last use', () => {
  it('gives the kept sessions\' numbers and leaves no mapping of the weights behind', async () => {
    const kept = await GradientProgram.open({ model: path, cacheDir, compact: true });
    const reference = await explain(kept, false);
    const whileKept = mapped();
    await kept.release();
    expect(mapped()).toBe(0);

    const oneShot = await GradientProgram.open({ model: path, cacheDir, compact: true });
    try {
      for (let run = 0; run < 2; run++) {
        const released = await explain(oneShot, true);
        expect(mapped()).toBe(0);
        expect(released.saliency).toEqual(reference.saliency);
        expect(released.gradXInput).toEqual(reference.gradXInput);
        expect(released.targetLogProbs).toEqual(reference.targetLogProbs);
      }
      // Opened from the cache both times (the first program built the graphs), never built again.
      expect(oneShot.statistics.built).toBe(0);
      expect(oneShot.statistics.sessionsOpened).toBe(4);
    } finally {
      await oneShot.release();
    }
    // The kept program's forward and reverse sessions mapped the file (so the zeros above are not vacuous).
    expect(whileKept).toBeGreaterThan(0);
  });
});
