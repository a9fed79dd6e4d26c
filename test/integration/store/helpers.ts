// Shared set-up of the store tests: a fresh database file in a temp folder, and run builders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRunStore, type RunStore, type RunStoreOptions } from '../../../main/store';
import type { NewRun } from '../../../main/store/run-rows';

export interface TempStore {
  store: RunStore;
  path: string;
  dir: string;
  dispose(): void;
}

/** A run store on a new SQLite file; dispose() closes it and removes the folder. */
export function tempStore(options: RunStoreOptions = {}): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  const path = join(dir, 'nested', 'runs.db');
  const store = openRunStore(path, options);
  return {
    store,
    path,
    dir,
    dispose() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plausible new run; fields can be overridden. */
export function sampleRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    model: { path: '/models/tiny-llama', name: 'tiny-llama', architecture: 'llama', sha256: 'ab'.repeat(32), file: 'onnx/model.onnx', dtype: 'fp32' },
    task: 'chat',
    input: { task: 'chat', system: 'You are terse.', messages: [{ role: 'user', content: 'What is the capital of France?' }] },
    device: { requested: 'auto' },
    generation: { maxNewTokens: 8, temperature: 0 },
    methods: ['attention'],
    appVersion: '0.1.0',
    ...overrides,
  };
}

/** Deterministic values in [0, 1) (xorshift). */
export function pseudoRandom(count: number, seed = 1): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) / 2 ** 32;
  }
  return out;
}
