// Shared set-up for the service tests: a real run store in a temporary SQLite file, and a job runner that
// does what the engine pipeline does to the store (create the row with the service's id, report stages,
// complete it with tensors, or fail) — the service's injection point, so these tests do not depend on the
// engine being finished.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExplainRequest } from '../../../shared/api';
import type { NamedTensor } from '../../../shared/tensor';
import { openRunStore, type RunStore } from '../../../main/store/run-store';
import type { JobContext, JobRunner } from '../../../main/service/job-queue';

export interface TempStore {
  dir: string;
  databasePath: string;
  store: RunStore;
  dispose(): void;
}

export function tempStore(): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'f1-service-'));
  const databasePath = join(dir, 'runs.db');
  const store = openRunStore(databasePath);
  return {
    dir,
    databasePath,
    store,
    dispose() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A 2-layer, 2-head attention tensor over 3 answer rows and 5 positions with known values: v = index / 100. */
export function attentionTensor(): NamedTensor {
  const shape = [2, 2, 3, 5];
  const data = new Float32Array(60).map((_, index) => index / 100);
  return { name: 'attention.data', axes: ['layer', 'head', 'row', 'col'], shape, data, encoding: 'float32' };
}

export const PROMPT_TOKENS = ['<s>', 'When', 'is', 'support', 'open'];

/**
 * A runner that writes runs through the real store like the pipeline does. Special prompts steer it:
 * "fail" throws after creating the row, "slow" waits for cancel (or 5 s), "fail-early" throws before any row.
 */
export function storeWritingRunner(store: RunStore, log: string[] = []): JobRunner {
  return async (request: ExplainRequest, context: JobContext) => {
    log.push(`start ${context.runId}`);
    context.onProgress('load', 0);
    if (request.prompt === 'fail-early') throw Object.assign(new Error('Model folder not found: /nowhere'), { code: 'not_found' });
    store.createRun({
      id: context.runId,
      model: { path: request.modelPath ?? '/models/demo', name: 'demo', architecture: 'llama', sha256: 'abc' },
      task: request.task,
      input: { task: request.task, prompt: request.prompt, messages: request.messages, system: request.system },
      device: { requested: request.device },
      generation: { ...request.generation, supplied: request.answer !== undefined },
      methods: request.methods,
      experiment: request.experiment,
      tags: request.tags,
    });
    context.onProgress('generate', 0.5, 'token 1/2');
    // Real work takes time: let the caller's next steps (a second createRun, a listJobs) happen meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (request.prompt === 'slow') {
      await new Promise<void>((resolve, reject) => {
        if (context.signal.aborted) return reject(new Error('the run was cancelled'));
        const timer = setTimeout(resolve, 5000);
        context.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('the run was cancelled'));
        });
      });
    }
    if (request.prompt === 'fail') throw new Error('explainer exploded');
    context.onProgress('attention', 1);
    context.onProgress('store', 0);
    store.completeRun(context.runId, {
      patch: {
        tokens: { ids: [1, 2, 3, 4, 5, 6, 7], text: [...PROMPT_TOKENS, 'at', 'nine'], role: ['prompt', 'prompt', 'prompt', 'prompt', 'prompt', 'answer', 'answer'] },
        promptLength: 5,
        answerText: 'at nine',
        attention: { layers: 2, heads: 2, rows: 'answer', data: [], mean: [[0.2, 0.8]], rollout: [[0.5, 0.5]], input: [0.1, 0.9] },
      },
      tensors: [attentionTensor()],
    });
    log.push(`end ${context.runId}`);
  };
}

export function request(overrides: Partial<ExplainRequest> = {}): ExplainRequest {
  return {
    task: 'completion',
    prompt: 'When is support open?',
    generation: { maxNewTokens: 2 },
    methods: ['attention'],
    device: 'cpu',
    ...overrides,
  };
}
