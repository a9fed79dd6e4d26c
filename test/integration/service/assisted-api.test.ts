// The API side of assisted generation: the request field is validated on arrival, and an assistant whose
// tokenizer files differ from the main model's (or that does not exist) is refused by createRun and startBatch
// before anything is queued, as invalid_argument naming both models.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/api';
import { createWorkbenchService, type WorkbenchService } from '../../../main/service';
import { fixtureFolder } from '../../fixtures/models';
import { llamaAssistantFolder } from '../../fixtures/assistant-models';
import { request, storeWritingRunner, tempStore, type TempStore } from './helpers';

let temp: TempStore;
let service: WorkbenchService;

beforeEach(() => {
  temp = tempStore();
  service = createWorkbenchService({
    store: temp.store,
    runJob: storeWritingRunner(temp.store),
    demoModel: async () => '/models/demo',
    databasePath: temp.databasePath,
    mode: 'local',
    version: '0.1.0-test',
  });
});

afterEach(async () => {
  await service.close();
  temp.dispose();
});

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('createRun with an assistant', () => {
  it('validates the field: an absolute folder and 1…64 draft tokens, no unknown keys', async () => {
    const llama = await fixtureFolder('llama');
    expect((await rejection(service.createRun(request({ modelPath: llama, assistant: { modelPath: 'small' } })))).message).toContain(
      'request.assistant.modelPath must be an absolute folder path',
    );
    expect((await rejection(service.createRun(request({ modelPath: llama, assistant: { modelPath: llama, draftTokens: 0 } })))).message).toContain(
      'request.assistant.draftTokens must be at least 1',
    );
    expect((await rejection(service.createRun(request({ modelPath: llama, assistant: { modelPath: llama, draftTokens: 65 } })))).message).toContain(
      'request.assistant.draftTokens must be at most 64',
    );
    const unknown = { modelPath: llama, tokens: 3 } as unknown as { modelPath: string };
    expect((await rejection(service.createRun(request({ modelPath: llama, assistant: unknown })))).message).toContain('unknown field "tokens"');
  });

  it('refuses another vocabulary or a missing folder before queueing, and queues a matching pair', async () => {
    const llama = await fixtureFolder('llama');
    const gpt2 = await fixtureFolder('gpt2');
    const mismatch = await rejection(service.createRun(request({ modelPath: llama, assistant: { modelPath: gpt2 } })));
    expect(mismatch.code).toBe('invalid_argument');
    expect(mismatch.message).toMatch(/^createRun: the assistant model gpt2 .* different vocabulary from the main model llama/);
    expect(mismatch.message).toContain(gpt2);
    expect(mismatch.message).toContain(llama);
    const missing = await rejection(service.createRun(request({ modelPath: llama, assistant: { modelPath: '/nonexistent/small' } })));
    expect(missing.message).toContain('assistant model folder /nonexistent/small does not exist');
    expect(await service.listJobs()).toEqual([]);

    const { runId } = await service.createRun(request({ modelPath: llama, assistant: { modelPath: await llamaAssistantFolder(), draftTokens: 3 } }));
    expect(runId).toMatch(/^r_/);
  });

  it('startBatch refuses a mismatched assistant in its settings the same way', async () => {
    const llama = await fixtureFolder('llama');
    const gpt2 = await fixtureFolder('gpt2');
    const error = await rejection(
      service.startBatch({
        experiment: 'assisted',
        modelPath: llama,
        datasetText: '{"prompt": "Hello"}\n',
        settings: { generation: { maxNewTokens: 2 }, assistant: { modelPath: gpt2 }, methods: [], device: 'cpu' },
      }),
    );
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^startBatch: the assistant model gpt2 .*different vocabulary/);
  });
});
