// Warm sessions for encoder-decoder runs: a second run of the same folder in one session pool reuses the encoder and
// decoder sessions, the instrumented attention sessions and the explain programs (run JSON `sessions`), and gives the
// same numbers as a run in a fresh pool; a program kept for one shape serves another source of the same lengths.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { runExplanation } from '../../../main/service/pipeline';
import { SessionPool } from '../../../main/engine/session-pool';
import { fixtureFolder } from '../../fixtures/models';
import { tempStore, type TempStore } from '../service/helpers';

let temp: TempStore;
beforeAll(() => {
  temp = tempStore();
});
afterAll(() => temp?.dispose());

async function explain(pool: SessionPool, overrides: Partial<ExplainRequest> = {}): Promise<RunJson> {
  const request: ExplainRequest = {
    modelPath: await fixtureFolder('marian'),
    task: 'translation',
    inputIds: [450, 4996, 17354, 1701, 2],
    answerIds: [250, 3000, 42, 2],
    generation: { maxNewTokens: 4 },
    methods: ['attention', 'saliency', 'integrated_gradients'],
    options: { igSteps: 8 },
    device: 'cpu',
    ...overrides,
  };
  return (await runExplanation(request, { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo'), sessions: pool })).run;
}

describe('seq2seq warm sessions', () => {
  it('a second run of the same folder reuses every session and gives the same numbers', async () => {
    const pool = new SessionPool(8e9);
    try {
      const first = await explain(pool);
      expect(first.sessions).toEqual({ model: 'cold', attention: 'cold', gradients: 'cold' });
      const second = await explain(pool);
      expect(second.sessions).toEqual({ model: 'warm', attention: 'warm', gradients: 'warm' });
      expect(second.attention!.cross!.data).toEqual(first.attention!.cross!.data);
      expect(second.gradient!.source!.saliency).toEqual(first.gradient!.source!.saliency);
      expect(second.integratedGradients!.attributions).toEqual(first.integratedGradients!.attributions);
      // Nothing was opened again: the pool served the second run's three entries warm.
      const stats = pool.stats();
      expect(stats.loads).toBe(3);
      expect(stats.hits).toBe(3);
      expect(stats.entries.every((entry) => entry.inUse === 0)).toBe(true);
      expect(first.memory!.estimateBytes).toBeGreaterThan(0);

      // Another source and answer of the same lengths runs on the kept programs and equals a fresh pool's run.
      const other = { inputIds: [17354, 450, 1701, 4996, 2], answerIds: [42, 250, 3000, 2] };
      const warm = await explain(pool, other);
      expect(warm.sessions!.gradients).toBe('warm');
      const fresh = new SessionPool(8e9);
      const cold = await explain(fresh, other).finally(() => fresh.release());
      expect(cold.sessions!.gradients).toBe('cold');
      expect(warm.gradient!.source!.saliency).toEqual(cold.gradient!.source!.saliency);
      expect(warm.gradient!.saliency).toEqual(cold.gradient!.saliency);
      expect(warm.integratedGradients!.attributions).toEqual(cold.integratedGradients!.attributions);
      // A new length builds a new program inside the warm entry: gradients are cold, the rest stays warm.
      const longer = await explain(pool, { inputIds: [450, 4996, 17354, 1701, 1701, 2] });
      expect(longer.sessions).toEqual({ model: 'warm', attention: 'warm', gradients: 'cold' });
    } finally {
      await pool.release();
    }
  }, 180_000);
});
